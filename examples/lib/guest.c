/* guest.c: see guest.h. */
#include "guest.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- reading ------------------------------------------------------------------------ */

guest_json guest_read_request(void) {
    guest_json none = {NULL, NULL};
    size_t capacity = 4096, length = 0;
    char *data = malloc(capacity);
    if (!data) return none;
    for (;;) {
        if (length == capacity) {
            char *bigger = capacity > SIZE_MAX / 2 ? NULL : realloc(data, capacity * 2);
            if (!bigger) {
                free(data);
                return none;
            }
            data = bigger;
            capacity *= 2;
        }
        ssize_t count = read(0, data + length, capacity - length);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) {
            free(data);
            return none;
        }
        if (count == 0) break;
        length += (size_t)count;
    }
    /* The request lives as long as the process: one invocation. */
    guest_json request = {data, data + length};
    return request;
}

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p points at an opening quote; returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end) {
    if (p >= end || *p != '"') return NULL;
    for (p++; p < end; p++) {
        if (*p == '"') return p + 1;
        if ((unsigned char)*p < 0x20) return NULL;
        if (*p == '\\' && ++p >= end) return NULL; /* skip the escaped character */
    }
    return NULL;
}

/* p points at a value; returns the position after it, or NULL if it is cut short. */
static const char *skip_value(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                if (!p) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
            p++;
        }
        return NULL;
    }
    const char *start = p; /* a number, true, false or null */
    while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-' ||
                       *p == '+' || *p == '.' || *p == 'E')) {
        p++;
    }
    return p > start ? p : NULL;
}

int guest_member(guest_json object, const char *key, guest_json *value) {
    const char *end = object.end;
    size_t key_length = strlen(key);
    if (!object.start) return 0;
    const char *p = skip_space(object.start, end);
    if (p >= end || *p != '{') return 0;
    p = skip_space(p + 1, end);
    while (p < end && *p == '"') {
        const char *name = p;
        const char *after_name = skip_string(p, end);
        if (!after_name) return 0;
        p = skip_space(after_name, end);
        if (p >= end || *p != ':') return 0;
        p = skip_space(p + 1, end);
        const char *after_value = skip_value(p, end);
        if (!after_value) return 0;
        if ((size_t)(after_name - name) == key_length + 2 &&
            memcmp(name + 1, key, key_length) == 0) {
            value->start = p;
            value->end = after_value;
            return 1;
        }
        p = skip_space(after_value, end);
        if (p >= end || *p != ',') return 0;
        p = skip_space(p + 1, end);
    }
    return 0;
}

int guest_item(guest_json array, size_t index, guest_json *value) {
    const char *end = array.end;
    if (!array.start) return 0;
    const char *p = skip_space(array.start, end);
    if (p >= end || *p != '[') return 0;
    p = skip_space(p + 1, end);
    if (p < end && *p == ']') return 0;
    for (size_t position = 0; p < end; position++) {
        const char *after_value = skip_value(p, end);
        if (!after_value) return 0;
        if (position == index) {
            value->start = p;
            value->end = after_value;
            return 1;
        }
        p = skip_space(after_value, end);
        if (p >= end || *p != ',') return 0;
        p = skip_space(p + 1, end);
    }
    return 0;
}

static long hex4(const char *p, const char *end) {
    long value = 0;
    if (end - p < 4) return -1;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

static size_t encode_utf8(unsigned long code_point, char *out) {
    if (code_point < 0x80) {
        out[0] = (char)code_point;
        return 1;
    }
    if (code_point < 0x800) {
        out[0] = (char)(0xC0 | (code_point >> 6));
        out[1] = (char)(0x80 | (code_point & 0x3F));
        return 2;
    }
    if (code_point < 0x10000) {
        out[0] = (char)(0xE0 | (code_point >> 12));
        out[1] = (char)(0x80 | ((code_point >> 6) & 0x3F));
        out[2] = (char)(0x80 | (code_point & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (code_point >> 18));
    out[1] = (char)(0x80 | ((code_point >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((code_point >> 6) & 0x3F));
    out[3] = (char)(0x80 | (code_point & 0x3F));
    return 4;
}

/* Decode the escape after a backslash at *cursor into out; 0 when it is malformed. */
static size_t decode_escape(const char **cursor, const char *end, char *out) {
    const char *p = *cursor;
    char c = *p++;
    size_t count = 1;
    switch (c) {
    case '"': case '\\': case '/': out[0] = c; break;
    case 'b': out[0] = '\b'; break;
    case 'f': out[0] = '\f'; break;
    case 'n': out[0] = '\n'; break;
    case 'r': out[0] = '\r'; break;
    case 't': out[0] = '\t'; break;
    case 'u': {
        long unit = hex4(p, end);
        if (unit < 0) return 0;
        p += 4;
        unsigned long code_point = (unsigned long)unit;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            long low = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
            if (low >= 0xDC00 && low <= 0xDFFF) {
                code_point = 0x10000 + (((unsigned long)unit - 0xD800) << 10) +
                             ((unsigned long)low - 0xDC00);
                p += 6;
            } else {
                code_point = 0xFFFD; /* a lone high surrogate */
            }
        } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
            code_point = 0xFFFD; /* a lone low surrogate */
        }
        count = encode_utf8(code_point, out);
        break;
    }
    default: return 0;
    }
    *cursor = p;
    return count;
}

long guest_string(guest_json string, char *out, size_t capacity) {
    if (!string.start || capacity == 0) return -1;
    const char *end = skip_string(string.start, string.end);
    if (!end) return -1;
    end--; /* the closing quote */
    size_t length = 0;
    for (const char *p = string.start + 1; p < end;) {
        char bytes[4];
        size_t count = 1;
        if (*p == '\\') {
            p++;
            count = decode_escape(&p, end, bytes);
            if (count == 0) return -1;
        } else {
            bytes[0] = *p++;
        }
        if (count >= capacity - length) return -2; /* keep room for the NUL */
        memcpy(out + length, bytes, count);
        length += count;
    }
    out[length] = '\0';
    return (long)length;
}

long guest_query(guest_json request, const char *name, char *out, size_t capacity) {
    guest_json query, values, first;
    if (!guest_member(request, "query", &query) || !guest_member(query, name, &values)) {
        return -1;
    }
    /* The host sends a list of values; accept a bare string too. */
    if (*values.start == '[') {
        if (!guest_item(values, 0, &first)) return -1;
    } else {
        first = values;
    }
    return guest_string(first, out, capacity);
}

/* ---- writing ------------------------------------------------------------------------ */

static int reserve(guest_buffer *buffer, size_t extra) {
    if (buffer->failed) return 0;
    if (extra <= buffer->capacity - buffer->length) return 1;
    size_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity - buffer->length < extra) {
        if (capacity > SIZE_MAX / 2) {
            buffer->failed = 1;
            return 0;
        }
        capacity *= 2;
    }
    char *data = realloc(buffer->data, capacity);
    if (!data) {
        buffer->failed = 1;
        return 0;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return 1;
}

void guest_append(guest_buffer *buffer, const char *data, size_t length) {
    if (length == 0 || !reserve(buffer, length)) return;
    memcpy(buffer->data + buffer->length, data, length);
    buffer->length += length;
}

void guest_append_text(guest_buffer *buffer, const char *text) {
    guest_append(buffer, text, strlen(text));
}

void guest_append_number(guest_buffer *buffer, unsigned long long number) {
    char digits[24];
    size_t start = sizeof digits;
    do {
        digits[--start] = (char)('0' + number % 10);
        number /= 10;
    } while (number);
    guest_append(buffer, digits + start, sizeof digits - start);
}

/* The length of the valid UTF-8 sequence at p, or 0 if it is not valid UTF-8. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned char lead = p[0];
    size_t count;
    unsigned long code_point, smallest;
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) {
        count = 2, code_point = lead & 0x1F, smallest = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        count = 3, code_point = lead & 0x0F, smallest = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        count = 4, code_point = lead & 0x07, smallest = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < count) return 0;
    for (size_t i = 1; i < count; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        code_point = (code_point << 6) | (p[i] & 0x3F);
    }
    if (code_point < smallest || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
        return 0;
    }
    return count;
}

void guest_append_json_string(guest_buffer *buffer, const char *text, size_t length,
                              int html_safe) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)text, *end = p + length;
    guest_append(buffer, "\"", 1);
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x80) {
            size_t count = utf8_sequence(p, end);
            if (count == 0) {
                guest_append_text(buffer, "\\ufffd");
                p++;
            } else if (html_safe && count == 3 && p[0] == 0xE2 && p[1] == 0x80 &&
                       (p[2] == 0xA8 || p[2] == 0xA9)) {
                guest_append_text(buffer, p[2] == 0xA8 ? "\\u2028" : "\\u2029");
                p += 3;
            } else {
                guest_append(buffer, (const char *)p, count);
                p += count;
            }
            continue;
        }
        if (c == '"') {
            guest_append_text(buffer, "\\\"");
        } else if (c == '\\') {
            guest_append_text(buffer, "\\\\");
        } else if (c == '\n') {
            guest_append_text(buffer, "\\n");
        } else if (c == '\r') {
            guest_append_text(buffer, "\\r");
        } else if (c == '\t') {
            guest_append_text(buffer, "\\t");
        } else if (c < 0x20 || (html_safe && (c == '<' || c == '>' || c == '&'))) {
            char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            guest_append(buffer, escape, sizeof escape);
        } else {
            guest_append(buffer, (const char *)p, 1);
        }
        p++;
    }
    guest_append(buffer, "\"", 1);
}

int guest_write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

void guest_log(const char *line) {
    guest_buffer record = {0};
    guest_append_text(&record, line);
    guest_append(&record, "\n", 1);
    if (!record.failed) guest_write_all(2, record.data, record.length);
    free(record.data);
}

int guest_respond(int status, const char *content_type, const char *body, size_t body_length) {
    guest_buffer response = {0};
    guest_append_text(&response, "{\"status\":");
    guest_append_number(&response, status < 0 ? 0u : (unsigned)status);
    guest_append_text(&response, ",\"headers\":{\"Content-Type\":[");
    guest_append_json_string(&response, content_type, strlen(content_type), 0);
    guest_append_text(&response, "]},\"body\":");
    guest_append_json_string(&response, body, body_length, 0);
    guest_append_text(&response, "}");
    int exit_code =
        !response.failed && guest_write_all(1, response.data, response.length) == 0 ? 0 : 1;
    free(response.data);
    return exit_code;
}
