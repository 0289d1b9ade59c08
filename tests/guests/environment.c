/* Answers with a body holding {"env": [...], "args": [...]}: exactly what the sandbox passed in. */
#include "guest.h"
extern char **environ;

/* Append `text` as a JSON string literal, escaped once more because it sits inside the body. */
static size_t append_item(char *out, size_t used, const char *text, int first) {
    if (!first) out[used++] = ',';
    out[used++] = '\\'; out[used++] = '"';
    for (; *text; text++) {
        if (*text == '"' || *text == '\\') { out[used++] = '\\'; out[used++] = '\\'; out[used++] = '\\'; }
        out[used++] = *text;
    }
    out[used++] = '\\'; out[used++] = '"';
    return used;
}

int main(int argc, char **argv) {
    free(read_request(NULL));
    char *out = malloc(1 << 16);
    size_t used = (size_t)sprintf(out, "{\\\"env\\\":[");
    for (char **entry = environ; entry && *entry; entry++) used = append_item(out, used, *entry, entry == environ);
    used += (size_t)sprintf(out + used, "],\\\"args\\\":[");
    for (int i = 0; i < argc; i++) used = append_item(out, used, argv[i], i == 0);
    used += (size_t)sprintf(out + used, "]}");
    respond_raw_body(200, out, used, 0);
    return 0;
}
