/*
 * The Gojinn benchmark workload: parse the JSON body {"id":"1","value":100} and answer
 * {"id":"1","result":value*1.15}.
 *
 * One source, three builds, so every variant does exactly the same work:
 * - as a pyjinn function (zig cc, wasm32-wasi): stdin is pyjinn's request envelope; the body is
 *   the JSON string in its "body" field; the answer is a pyjinn response envelope;
 * - with -DCGI, natively (gcc) or for the wasmtime CLI (zig cc): stdin is the raw body and
 *   stdout is the raw answer, as a process-per-request (CGI-style) program sees them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char input[65536];
static char body[65536];

static size_t read_all(char *buffer, size_t capacity) {
    size_t length = 0;
    for (;;) {
        ssize_t got = read(0, buffer + length, capacity - 1 - length);
        if (got <= 0) break;
        length += (size_t)got;
    }
    buffer[length] = 0;
    return length;
}

static void write_all(const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(1, data, length);
        if (written <= 0) return;
        data += written;
        length -= (size_t)written;
    }
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

/* The value after "key": in the JSON object at text, or NULL. Top-level keys only. */
static const char *find_member(const char *text, const char *key) {
    size_t key_length = strlen(key);
    int depth = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        } else if (*p == '"') {
            const char *start = ++p;
            while (*p && *p != '"') p += (*p == '\\' && p[1]) ? 2 : 1;
            if (!*p) return NULL;
            if (depth == 1 && (size_t)(p - start) == key_length &&
                memcmp(start, key, key_length) == 0) {
                const char *after = skip_space(p + 1);
                if (*after == ':') return skip_space(after + 1);
            }
        }
    }
    return NULL;
}

/* Decode the JSON string starting at p (at its opening quote) into out; its length or -1. */
static long decode_string(const char *p, char *out, size_t capacity) {
    if (*p != '"') return -1;
    size_t at = 0;
    for (p++; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            p++;
            switch (*p) {
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case 'r': c = '\r'; break;
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case 'u': {
                    char hex[5] = {p[1], p[2], p[3], p[4], 0};
                    c = (char)strtol(hex, NULL, 16); /* ASCII is all this workload needs */
                    p += 4;
                    break;
                }
                default: c = *p;
            }
        }
        if (at + 1 >= capacity) return -1;
        out[at++] = c;
    }
    out[at] = 0;
    return *p == '"' ? (long)at : -1;
}

/* The workload itself: body JSON in, answer JSON out; its length, or -1 for a bad body. */
static int compute(const char *json, char *answer, size_t capacity) {
    char id[256];
    const char *id_value = find_member(json, "id");
    const char *value = find_member(json, "value");
    if (!id_value || !value || decode_string(id_value, id, sizeof id) < 0) return -1;
    char *end;
    double number = strtod(value, &end);
    if (end == value) return -1;
    return snprintf(answer, capacity, "{\"id\":\"%s\",\"result\":%.15g}", id, number * 1.15);
}

int main(void) {
    char answer[512];
    read_all(input, sizeof input);
#ifdef CGI
    int length = compute(input, answer, sizeof answer);
    if (length < 0) {
        write_all("{\"error\":\"bad body\"}", 20);
        return 1;
    }
    write_all(answer, (size_t)length);
#else
    const char *field = find_member(input, "body");
    int length = -1;
    if (field && decode_string(field, body, sizeof body) >= 0) {
        length = compute(body, answer, sizeof answer);
    }
    char response[1024];
    int size;
    if (length < 0) {
        size = snprintf(response, sizeof response, "%s",
                        "{\"status\":400,\"body\":\"{\\\"error\\\":\\\"bad body\\\"}\"}");
    } else {
        /* The answer holds no quote needing more than a backslash, nor control characters. */
        char escaped[1024];
        size_t at = 0;
        for (int i = 0; i < length; i++) {
            if (answer[i] == '"' || answer[i] == '\\') escaped[at++] = '\\';
            escaped[at++] = answer[i];
        }
        escaped[at] = 0;
        size = snprintf(response, sizeof response,
                        "{\"status\":200,\"headers\":{\"Content-Type\":[\"application/json\"]},"
                        "\"body\":\"%s\"}",
                        escaped);
    }
    write_all(response, (size_t)size);
#endif
    return 0;
}
