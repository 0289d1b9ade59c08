/*
 * echo: answers 200 with the whole request envelope it read on stdin as the body, escaped as a
 * JSON string. The in-process benchmark's "real work" guest: read all of stdin, build a
 * response of about the same size, write it in one buffer.
 */
#include <stdlib.h>
#include <unistd.h>

static void write_all(const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(1, data, length);
        if (written <= 0) return;
        data += written;
        length -= (size_t)written;
    }
}

int main(void) {
    size_t capacity = 4096, length = 0;
    char *input = malloc(capacity);
    if (!input) return 1;
    for (;;) {
        if (length == capacity) {
            capacity *= 2;
            input = realloc(input, capacity);
            if (!input) return 1;
        }
        ssize_t got = read(0, input + length, capacity - length);
        if (got <= 0) break;
        length += (size_t)got;
    }
    static const char head[] =
        "{\"status\":200,\"headers\":{\"Content-Type\":[\"application/json\"]},\"body\":\"";
    char *out = malloc(sizeof head + 6 * length + 2);
    if (!out) return 1;
    size_t at = 0;
    for (size_t i = 0; i < sizeof head - 1; i++) out[at++] = head[i];
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)input[i];
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
        } else if (c < 0x20) {
            out[at++] = '\\';
            out[at++] = 'u';
            out[at++] = '0';
            out[at++] = '0';
            out[at++] = hex[c >> 4];
            out[at++] = hex[c & 15];
        } else {
            out[at++] = (char)c;
        }
    }
    out[at++] = '"';
    out[at++] = '}';
    write_all(out, at);
    return 0;
}
