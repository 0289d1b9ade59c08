/* Tiny helpers shared by the test guests: read the request, find raw JSON values, answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *read_request(size_t *length) {
    size_t capacity = 1 << 16, used = 0;
    char *buffer = malloc(capacity + 1);
    ssize_t got;
    while ((got = read(0, buffer + used, capacity - used)) > 0) {
        used += (size_t)got;
        if (used == capacity) { capacity *= 2; buffer = realloc(buffer, capacity + 1); }
    }
    buffer[used] = 0;
    if (length) *length = used;
    return buffer;
}

/* The raw (still JSON-escaped) text of the string value that follows `"key":"`, or NULL. */
static char *raw_string(const char *json, const char *key, size_t *length) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *start = strstr(json, pattern);
    if (!start) return NULL;
    start += strlen(pattern);
    const char *end = start;
    while (*end && *end != '"') end += (*end == '\\') ? 2 : 1;
    *length = (size_t)(end - start);
    return (char *)start;
}

/* The first value of query parameter `name` as an integer, or `fallback`. */
static long query_number(const char *json, const char *name, long fallback) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":[\"", name);
    const char *found = strstr(json, pattern);
    return found ? atol(found + strlen(pattern)) : fallback;
}

/* Write all of `data` to fd, looping over short writes. */
static void write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written <= 0) return;
        data += written; length -= (size_t)written;
    }
}

static void respond_raw_body(int status, const char *raw_body, size_t length, int base64) {
    char head[256];
    int n = snprintf(head, sizeof head,
        "{\"status\":%d,\"headers\":{\"Content-Type\":[\"application/json\"]},%s\"body\":\"",
        status, base64 ? "\"body_encoding\":\"base64\"," : "");
    write_all(1, head, (size_t)n);
    write_all(1, raw_body, length);
    write_all(1, "\"}", 2);
}
