/* Answers with the request's body exactly as received (a base64 body stays base64); on the
 * path ending in /envelope, answers with the whole request document it read on stdin instead. */
#include "guest.h"
int main(void) {
    size_t length, body_length = 0;
    char *request = read_request(&length);
    size_t path_length = 0;
    const char *path = raw_string(request, "path", &path_length);
    if (path && path_length >= 9 && memcmp(path + path_length - 9, "/envelope", 9) == 0) {
        /* Body = the request document itself, JSON-escaped. */
        char *escaped = malloc(length * 2 + 1); size_t o = 0;
        for (size_t i = 0; i < length; i++) {
            char c = request[i];
            if (c == '"' || c == '\\') escaped[o++] = '\\';
            escaped[o++] = c;
        }
        respond_raw_body(200, escaped, o, 0);
        return 0;
    }
    char *body = raw_string(request, "body", &body_length);
    int is_base64 = strstr(request, "\"body_encoding\":\"base64\"") != NULL;
    respond_raw_body(200, body ? body : "", body ? body_length : 0, is_base64);
    return 0;
}
