/* pyjinn.c: the C SDK for pyjinn functions; see pyjinn.h. */
#include "pyjinn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 32 /* nesting accepted in the request's unknown fields */

const char *pyjinn_status_name(int status) {
    switch (status) {
    case PYJINN_OK: return "OK";
    case PYJINN_NOT_FOUND: return "NOT_FOUND";
    case PYJINN_DENIED: return "DENIED";
    case PYJINN_INVALID: return "INVALID";
    case PYJINN_UNAVAILABLE: return "UNAVAILABLE";
    case PYJINN_LIMIT: return "LIMIT";
    case PYJINN_INTERNAL: return "INTERNAL";
    case PYJINN_BUDGET: return "BUDGET";
    case PYJINN_RATE_LIMITED: return "RATE_LIMITED";
    case PYJINN_TIMEOUT: return "TIMEOUT";
    case PYJINN_ADDRESS_REFUSED: return "ADDRESS_REFUSED";
    case PYJINN_BUSY: return "BUSY";
    case PYJINN_CLOSED: return "CLOSED";
    case PYJINN_NO_MEMORY: return "NO_MEMORY";
    case PYJINN_IO: return "IO";
    default: return "UNKNOWN";
    }
}

/* ---- JSON reading ----------------------------------------------------------------------- */

/* Strings are decoded in place: a decoded string is never longer than its JSON text, so the
 * bytes (and a NUL) fit where the text was, and the input is its own storage. */
typedef struct {
    char *p;
    char *end;
} reader;

static void skip_space(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
        r->p++;
    }
}

static int take(reader *r, char c) {
    skip_space(r);
    if (r->p >= r->end || *r->p != c) return 0;
    r->p++;
    return 1;
}

static int peek(reader *r, char c) {
    skip_space(r);
    return r->p < r->end && *r->p == c;
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

static char *put_utf8(char *out, unsigned long c) {
    if (c < 0x80) {
        *out++ = (char)c;
    } else if (c < 0x800) {
        *out++ = (char)(0xC0 | (c >> 6));
        *out++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *out++ = (char)(0xE0 | (c >> 12));
        *out++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *out++ = (char)(0x80 | (c & 0x3F));
    } else {
        *out++ = (char)(0xF0 | (c >> 18));
        *out++ = (char)(0x80 | ((c >> 12) & 0x3F));
        *out++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *out++ = (char)(0x80 | (c & 0x3F));
    }
    return out;
}

/* Decode the JSON string at the cursor in place; 0 when it is malformed. */
static int read_string(reader *r, char **text, size_t *length) {
    if (!peek(r, '"')) return 0;
    char *start = r->p, *out = r->p;
    r->p++;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            *out = '\0';
            *text = start;
            *length = (size_t)(out - start);
            return 1;
        }
        if (c < 0x20) return 0;
        if (c != '\\') {
            *out++ = *r->p++;
            continue;
        }
        if (r->end - r->p < 2) return 0;
        char escape = r->p[1];
        r->p += 2;
        switch (escape) {
        case '"': case '\\': case '/': *out++ = escape; break;
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'u': {
            long unit = hex4(r->p, r->end);
            if (unit < 0) return 0;
            r->p += 4;
            unsigned long code_point = (unsigned long)unit;
            if (unit >= 0xD800 && unit <= 0xDBFF) {
                long low = r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u'
                               ? hex4(r->p + 2, r->end)
                               : -1;
                if (low >= 0xDC00 && low <= 0xDFFF) {
                    code_point = 0x10000 + (((unsigned long)unit - 0xD800) << 10) +
                                 ((unsigned long)low - 0xDC00);
                    r->p += 6;
                } else {
                    code_point = 0xFFFD; /* a lone surrogate has no UTF-8 form */
                }
            } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
                code_point = 0xFFFD;
            }
            out = put_utf8(out, code_point);
            break;
        }
        default: return 0;
        }
    }
    return 0;
}

/* Step over one JSON value, checking its syntax; 0 when it is malformed. */
static int skip_value(reader *r, int depth) {
    char *text;
    size_t length;
    skip_space(r);
    if (r->p >= r->end) return 0;
    char open = *r->p;
    if (open == '"') return read_string(r, &text, &length);
    if (open == '{' || open == '[') {
        char close = open == '{' ? '}' : ']';
        if (depth >= MAX_DEPTH) return 0;
        r->p++;
        if (take(r, close)) return 1;
        do {
            if (open == '{' && (!read_string(r, &text, &length) || !take(r, ':'))) return 0;
            if (!skip_value(r, depth + 1)) return 0;
        } while (take(r, ','));
        return take(r, close);
    }
    const char *start = r->p; /* a number, true, false or null */
    while (r->p < r->end && ((*r->p >= '0' && *r->p <= '9') || (*r->p >= 'a' && *r->p <= 'z') ||
                             *r->p == '-' || *r->p == '+' || *r->p == '.' || *r->p == 'E')) {
        r->p++;
    }
    size_t n = (size_t)(r->p - start);
    if (n == 0) return 0;
    if (*start == '-' || (*start >= '0' && *start <= '9')) return 1;
    return (n == 4 && memcmp(start, "true", 4) == 0) ||
           (n == 5 && memcmp(start, "false", 5) == 0) ||
           (n == 4 && memcmp(start, "null", 4) == 0);
}

static int skip_null(reader *r) {
    skip_space(r);
    if (r->end - r->p >= 4 && memcmp(r->p, "null", 4) == 0) {
        r->p += 4;
        return 1;
    }
    return 0;
}

typedef struct {
    pyjinn_field *items;
    size_t count;
    size_t capacity;
} field_list;

static int add_field(field_list *list, const char *name, const char *value, size_t length) {
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        pyjinn_field *items = realloc(list->items, capacity * sizeof *items);
        if (!items) return PYJINN_NO_MEMORY;
        list->items = items;
        list->capacity = capacity;
    }
    pyjinn_field field = {name, value, length};
    list->items[list->count++] = field;
    return PYJINN_OK;
}

/* An object of name -> list of strings (or one string), as the request's headers and query. */
static int read_fields(reader *r, field_list *list) {
    char *name, *value;
    size_t name_length, value_length;
    if (skip_null(r)) return PYJINN_OK;
    if (!take(r, '{')) return PYJINN_INVALID;
    if (take(r, '}')) return PYJINN_OK;
    do {
        if (!read_string(r, &name, &name_length) || !take(r, ':')) return PYJINN_INVALID;
        int several = take(r, '[');
        if (several && take(r, ']')) continue;
        do {
            if (!read_string(r, &value, &value_length)) return PYJINN_INVALID;
            int status = add_field(list, name, value, value_length);
            if (status != PYJINN_OK) return status;
        } while (several && take(r, ','));
        if (several && !take(r, ']')) return PYJINN_INVALID;
    } while (take(r, ','));
    return take(r, '}') ? PYJINN_OK : PYJINN_INVALID;
}

static int base64_digit(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode padded standard base64 in place; the decoded length, or -1 when it is malformed. */
static long base64_decode(char *data, size_t length) {
    size_t out = 0;
    if (length % 4 != 0) return -1;
    for (size_t i = 0; i < length; i += 4) {
        int padding = data[i + 3] == '=' ? (data[i + 2] == '=' ? 2 : 1) : 0;
        if (padding && i + 4 != length) return -1;
        unsigned long group = 0;
        for (int j = 0; j < 4; j++) {
            int digit = j >= 4 - padding ? 0 : base64_digit(data[i + (size_t)j]);
            if (digit < 0) return -1;
            group = group << 6 | (unsigned long)digit;
        }
        data[out++] = (char)(group >> 16);
        if (padding < 2) data[out++] = (char)(group >> 8 & 0xFF);
        if (padding < 1) data[out++] = (char)(group & 0xFF);
    }
    data[out] = '\0';
    return (long)out;
}

static int read_stdin(char **data, size_t *length) {
    size_t capacity = 4096, used = 0;
    char *buffer = malloc(capacity);
    if (!buffer) return PYJINN_NO_MEMORY;
    for (;;) {
        if (used == capacity) {
            char *bigger = capacity > SIZE_MAX / 2 ? NULL : realloc(buffer, capacity * 2);
            if (!bigger) {
                free(buffer);
                return PYJINN_NO_MEMORY;
            }
            buffer = bigger;
            capacity *= 2;
        }
        ssize_t count = read(0, buffer + used, capacity - used);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) {
            free(buffer);
            return PYJINN_IO;
        }
        if (count == 0) break;
        used += (size_t)count;
    }
    *data = buffer;
    *length = used;
    return PYJINN_OK;
}

int pyjinn_read_request(pyjinn_request *request) {
    static char empty[] = "";
    const char **texts[] = {&request->method,      &request->uri,      &request->path,
                            &request->remote_addr, &request->trace_id, &request->tenant};
    static const char *const text_keys[] = {"method",      "uri",      "path",
                                            "remote_addr", "trace_id", "tenant"};
    char *data, *key, *value, *body = empty, *encoding = empty;
    size_t length, key_length, value_length, body_length = 0;
    field_list headers = {0}, query = {0};

    memset(request, 0, sizeof *request);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) *texts[i] = empty;
    request->body = empty;

    int status = read_stdin(&data, &length);
    if (status != PYJINN_OK) return status;
    reader r = {data, data + length};
    if (!take(&r, '{')) return PYJINN_INVALID;
    if (!take(&r, '}')) {
        do {
            if (!read_string(&r, &key, &key_length) || !take(&r, ':')) return PYJINN_INVALID;
            int known = 0;
            for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
                if (strcmp(key, text_keys[i]) == 0) {
                    known = 1;
                    if (skip_null(&r)) break;
                    if (!read_string(&r, &value, &value_length)) return PYJINN_INVALID;
                    *texts[i] = value;
                }
            }
            if (known) continue;
            if (strcmp(key, "headers") == 0 || strcmp(key, "query") == 0) {
                status = read_fields(&r, key[0] == 'h' ? &headers : &query);
                if (status != PYJINN_OK) return status;
            } else if (strcmp(key, "body") == 0 || strcmp(key, "body_encoding") == 0) {
                int is_body = key[4] == '\0';
                if (skip_null(&r)) continue;
                if (!read_string(&r, &value, &value_length)) return PYJINN_INVALID;
                if (is_body) {
                    body = value;
                    body_length = value_length;
                } else {
                    encoding = value;
                }
            } else if (!skip_value(&r, 0)) {
                return PYJINN_INVALID;
            }
        } while (take(&r, ','));
        if (!take(&r, '}')) return PYJINN_INVALID;
    }
    skip_space(&r);
    if (r.p != r.end) return PYJINN_INVALID;

    if (strcmp(encoding, "base64") == 0) {
        long decoded = base64_decode(body, body_length);
        if (decoded < 0) return PYJINN_INVALID;
        body_length = (size_t)decoded;
    } else if (encoding[0] != '\0') {
        return PYJINN_INVALID; /* an encoding this SDK does not know */
    }
    request->body = body;
    request->body_length = body_length;
    request->headers = headers.items;
    request->header_count = headers.count;
    request->query = query.items;
    request->query_count = query.count;
    return PYJINN_OK;
}

static int same_ascii_case(const char *a, const char *b) {
    for (;; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y) return 0;
        if (x == '\0') return 1;
    }
}

const char *pyjinn_header(const pyjinn_request *request, const char *name) {
    for (size_t i = 0; i < request->header_count; i++) {
        if (same_ascii_case(request->headers[i].name, name)) return request->headers[i].value;
    }
    return NULL;
}

const char *pyjinn_query(const pyjinn_request *request, const char *name) {
    for (size_t i = 0; i < request->query_count; i++) {
        if (strcmp(request->query[i].name, name) == 0) return request->query[i].value;
    }
    return NULL;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int reserve(pyjinn_buffer *buffer, size_t extra) {
    if (buffer->status != PYJINN_OK) return 0;
    if (extra <= buffer->capacity - buffer->length) return 1;
    size_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity - buffer->length < extra) {
        if (capacity > SIZE_MAX / 2) {
            buffer->status = PYJINN_NO_MEMORY;
            return 0;
        }
        capacity *= 2;
    }
    char *data = realloc(buffer->data, capacity);
    if (!data) {
        buffer->status = PYJINN_NO_MEMORY;
        return 0;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return 1;
}

void pyjinn_buffer_append(pyjinn_buffer *buffer, const void *data, size_t length) {
    if (length == 0 || !reserve(buffer, length)) return;
    memcpy(buffer->data + buffer->length, data, length);
    buffer->length += length;
}

void pyjinn_buffer_append_text(pyjinn_buffer *buffer, const char *text) {
    pyjinn_buffer_append(buffer, text, strlen(text));
}

/* The length of the valid UTF-8 sequence at p, or 0 when there is none. */
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

static int is_utf8(const char *text, size_t length) {
    const unsigned char *p = (const unsigned char *)text, *end = p + length;
    while (p < end) {
        size_t count = utf8_sequence(p, end);
        if (count == 0) return 0;
        p += count;
    }
    return 1;
}

void pyjinn_buffer_append_json(pyjinn_buffer *buffer, const char *text, size_t length) {
    static const char hex[] = "0123456789abcdef";
    if (!is_utf8(text, length)) {
        if (buffer->status == PYJINN_OK) buffer->status = PYJINN_INVALID;
        return;
    }
    pyjinn_buffer_append(buffer, "\"", 1);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            char escape[2] = {'\\', (char)c};
            pyjinn_buffer_append(buffer, escape, 2);
        } else if (c == '\n') {
            pyjinn_buffer_append(buffer, "\\n", 2);
        } else if (c == '\r') {
            pyjinn_buffer_append(buffer, "\\r", 2);
        } else if (c == '\t') {
            pyjinn_buffer_append(buffer, "\\t", 2);
        } else if (c < 0x20) {
            char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            pyjinn_buffer_append(buffer, escape, 6);
        } else {
            pyjinn_buffer_append(buffer, text + i, 1);
        }
    }
    pyjinn_buffer_append(buffer, "\"", 1);
}

static void append_base64(pyjinn_buffer *buffer, const unsigned char *data, size_t length) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pyjinn_buffer_append(buffer, "\"", 1);
    for (size_t i = 0; i < length; i += 3) {
        size_t left = length - i;
        unsigned long group = (unsigned long)data[i] << 16;
        if (left > 1) group |= (unsigned long)data[i + 1] << 8;
        if (left > 2) group |= data[i + 2];
        char out[4] = {alphabet[group >> 18], alphabet[group >> 12 & 63],
                       left > 1 ? alphabet[group >> 6 & 63] : '=',
                       left > 2 ? alphabet[group & 63] : '='};
        pyjinn_buffer_append(buffer, out, 4);
    }
    pyjinn_buffer_append(buffer, "\"", 1);
}

static void append_number(pyjinn_buffer *buffer, int number) {
    char digits[12];
    size_t start = sizeof digits;
    unsigned magnitude = number < 0 ? 0u - (unsigned)number : (unsigned)number;
    do {
        digits[--start] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (number < 0) digits[--start] = '-';
    pyjinn_buffer_append(buffer, digits + start, sizeof digits - start);
}

static int write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return PYJINN_IO;
        data += written;
        length -= (size_t)written;
    }
    return PYJINN_OK;
}

int pyjinn_respond(int status, const pyjinn_response_header *headers, size_t header_count,
                   const void *body, size_t body_length) {
    pyjinn_buffer out = {0};
    pyjinn_buffer_append_text(&out, "{\"status\":");
    append_number(&out, status);
    pyjinn_buffer_append_text(&out, ",\"headers\":{");
    for (size_t i = 0; i < header_count; i++) {
        if (!headers[i].name || !headers[i].value) {
            free(out.data);
            return PYJINN_INVALID;
        }
    }
    int first = 1;
    for (size_t i = 0; i < header_count; i++) {
        size_t earlier = 0;
        while (earlier < i && !same_ascii_case(headers[earlier].name, headers[i].name)) earlier++;
        if (earlier < i) continue; /* listed with the first header of its name */
        if (!first) pyjinn_buffer_append(&out, ",", 1);
        first = 0;
        pyjinn_buffer_append_json(&out, headers[i].name, strlen(headers[i].name));
        pyjinn_buffer_append_text(&out, ":[");
        for (size_t j = i; j < header_count; j++) {
            if (j > i && !same_ascii_case(headers[j].name, headers[i].name)) continue;
            if (j > i) pyjinn_buffer_append(&out, ",", 1);
            pyjinn_buffer_append_json(&out, headers[j].value, strlen(headers[j].value));
        }
        pyjinn_buffer_append(&out, "]", 1);
    }
    pyjinn_buffer_append_text(&out, "},\"body\":");
    if (is_utf8(body, body_length)) {
        pyjinn_buffer_append_json(&out, body, body_length);
    } else {
        append_base64(&out, body, body_length);
        pyjinn_buffer_append_text(&out, ",\"body_encoding\":\"base64\"");
    }
    pyjinn_buffer_append(&out, "}\n", 2);
    int result = out.status == PYJINN_OK ? write_all(1, out.data, out.length) : out.status;
    free(out.data);
    return result;
}

int pyjinn_respond_text(int status, const char *content_type, const char *body) {
    pyjinn_response_header header = {"Content-Type", content_type};
    return pyjinn_respond(status, &header, 1, body, strlen(body));
}

/* ---- host calls ------------------------------------------------------------------------- */

void pyjinn_log(pyjinn_level level, const char *message) {
    pyjinn_log_bytes(level, message, strlen(message));
}

void pyjinn_log_bytes(pyjinn_level level, const void *message, size_t length) {
    pyjinn_abi_log((int32_t)level, PYJINN_ADDRESS(message), (int32_t)length);
}

char *pyjinn_last_error(void) {
    int32_t length = pyjinn_abi_error_read(0, 0); /* capacity 0 asks for the length */
    char *message = malloc(length > 0 ? (size_t)length + 1 : 1);
    if (!message) return NULL;
    int32_t copied = length > 0 ? pyjinn_abi_error_read(PYJINN_ADDRESS(message), length) : 0;
    message[copied > 0 ? copied : 0] = '\0';
    return message;
}

/* Copy the pending result of a data call into a new allocation, `offset` bytes in, followed by
 * a NUL; `result` is what the call returned (a length, or a negative error code). */
static int take_result(long long result, size_t offset, char **block, size_t *length) {
    if (result < 0) return result >= INT32_MIN ? (int)result : PYJINN_INTERNAL;
    if (offset >= INT32_MAX ||
        (unsigned long long)result >= (unsigned long long)INT32_MAX - offset) {
        return PYJINN_NO_MEMORY; /* more than this guest's memory can hold */
    }
    char *data = malloc(offset + (size_t)result + 1);
    if (!data) return PYJINN_NO_MEMORY;
    int32_t copied = pyjinn_abi_result_read(PYJINN_ADDRESS(data + offset), (int32_t)result);
    if (copied < 0) {
        free(data);
        return copied;
    }
    data[offset + (size_t)copied] = '\0';
    *block = data;
    *length = (size_t)copied;
    return PYJINN_OK;
}

int pyjinn_kv_get(const char *key, char **value, size_t *length) {
    long long result = pyjinn_abi_kv_get(PYJINN_ADDRESS(key), (int32_t)strlen(key));
    return take_result(result, 0, value, length);
}

int pyjinn_kv_set(const char *key, const void *value, size_t length) {
    return pyjinn_abi_kv_set(PYJINN_ADDRESS(key), (int32_t)strlen(key), PYJINN_ADDRESS(value),
                             (int32_t)length);
}

int pyjinn_kv_delete(const char *key) {
    return pyjinn_abi_kv_delete(PYJINN_ADDRESS(key), (int32_t)strlen(key));
}

int pyjinn_kv_list(const char *prefix, char ***keys, size_t *count) {
    long long result = pyjinn_abi_kv_list(PYJINN_ADDRESS(prefix), (int32_t)strlen(prefix));
    if (result < 0 || result >= INT32_MAX) return take_result(result, 0, NULL, NULL);
    /* Each key takes at least 3 bytes of the JSON ("k" and a comma or bracket), so this many
     * pointers, placed before the text in the same allocation, are always enough. */
    size_t slots = (size_t)result / 3 + 2;
    char *block, *key;
    size_t length, key_length, n = 0;
    int status = take_result(result, slots * sizeof(char *), &block, &length);
    if (status != PYJINN_OK) return status;
    char **items = (char **)(void *)block;
    char *text = block + slots * sizeof(char *);
    reader r = {text, text + length};
    int ok = take(&r, '[');
    if (ok && !take(&r, ']')) {
        do {
            ok = n + 1 < slots && read_string(&r, &key, &key_length);
            if (ok) items[n++] = key;
        } while (ok && take(&r, ','));
        ok = ok && take(&r, ']');
    }
    if (!ok) {
        free(block);
        return PYJINN_INTERNAL; /* the host sent something that is not a list of keys */
    }
    items[n] = NULL;
    *keys = items;
    *count = n;
    return PYJINN_OK;
}

int pyjinn_db_query(const char *sql, const char *params, char **json, size_t *length) {
    const char *list = params ? params : "";
    long long result = pyjinn_abi_db_query(PYJINN_ADDRESS(sql), (int32_t)strlen(sql),
                                           PYJINN_ADDRESS(list), (int32_t)strlen(list));
    return take_result(result, 0, json, length);
}

int pyjinn_db_exec(const char *sql, const char *params, char **json, size_t *length) {
    const char *list = params ? params : "";
    long long result = pyjinn_abi_db_exec(PYJINN_ADDRESS(sql), (int32_t)strlen(sql),
                                          PYJINN_ADDRESS(list), (int32_t)strlen(list));
    return take_result(result, 0, json, length);
}

int pyjinn_blob_put(const char *key, const void *data, size_t length) {
    return pyjinn_abi_blob_put(PYJINN_ADDRESS(key), (int32_t)strlen(key), PYJINN_ADDRESS(data),
                               (int32_t)length);
}

int pyjinn_blob_get(const char *key, char **data, size_t *length) {
    long long result = pyjinn_abi_blob_get(PYJINN_ADDRESS(key), (int32_t)strlen(key));
    return take_result(result, 0, data, length);
}

int pyjinn_blob_delete(const char *key) {
    return pyjinn_abi_blob_delete(PYJINN_ADDRESS(key), (int32_t)strlen(key));
}

int pyjinn_blob_list(const char *prefix, char **json, size_t *length) {
    long long result = pyjinn_abi_blob_list(PYJINN_ADDRESS(prefix), (int32_t)strlen(prefix));
    return take_result(result, 0, json, length);
}

int pyjinn_job_enqueue(const char *function, const void *payload, size_t length,
                       const char *idempotency_key, char **job_id) {
    const char *key = idempotency_key ? idempotency_key : "";
    long long result = pyjinn_abi_job_enqueue(
        PYJINN_ADDRESS(function), (int32_t)strlen(function), PYJINN_ADDRESS(payload),
        (int32_t)length, PYJINN_ADDRESS(key), (int32_t)strlen(key));
    size_t id_length;
    return take_result(result, 0, job_id, &id_length);
}

int pyjinn_ai_chat(const char *request, char **json, size_t *length) {
    long long result = pyjinn_abi_ai_chat(PYJINN_ADDRESS(request), (int32_t)strlen(request));
    return take_result(result, 0, json, length);
}

int pyjinn_ai_embed(const char *texts, char **json, size_t *length) {
    long long result = pyjinn_abi_ai_embed(PYJINN_ADDRESS(texts), (int32_t)strlen(texts));
    return take_result(result, 0, json, length);
}

int pyjinn_http_request(const char *method, const char *url, const char *headers,
                        const void *body, size_t body_length, pyjinn_http_response *response) {
    const char *fields = headers ? headers : "";
    long long result = pyjinn_abi_http_request(
        PYJINN_ADDRESS(method), (int32_t)strlen(method), PYJINN_ADDRESS(url),
        (int32_t)strlen(url), PYJINN_ADDRESS(fields), (int32_t)strlen(fields),
        PYJINN_ADDRESS(body), (int32_t)body_length);
    char *block;
    size_t length;
    int status = take_result(result, 0, &block, &length);
    if (status != PYJINN_OK) return status;
    /* {"status":N,"headers":{...}} then a newline, then the body (docs/abi.md). */
    static const char status_key[] = "{\"status\":", headers_key[] = ",\"headers\":";
    char *newline = memchr(block, '\n', length);
    char *end = NULL;
    long code = 0;
    if (newline && newline - block > 2 && newline[-1] == '}' &&
        strncmp(block, status_key, sizeof status_key - 1) == 0) {
        code = strtol(block + sizeof status_key - 1, &end, 10);
    }
    if (!end || strncmp(end, headers_key, sizeof headers_key - 1) != 0) {
        free(block);
        return PYJINN_INTERNAL; /* the host sent something that is not an answer */
    }
    newline[-1] = '\0'; /* the closing brace of the head: the headers object ends before it */
    response->status = (int)code;
    response->headers = end + sizeof headers_key - 1;
    response->body = newline + 1;
    response->body_length = length - (size_t)(newline + 1 - block);
    response->block = block;
    return PYJINN_OK;
}

int pyjinn_lock_acquire(const char *name, int ttl_seconds, int wait_ms, char **token) {
    long long result = pyjinn_abi_lock_acquire(PYJINN_ADDRESS(name), (int32_t)strlen(name),
                                               (int32_t)ttl_seconds, (int32_t)wait_ms);
    size_t token_length;
    return take_result(result, 0, token, &token_length);
}

int pyjinn_lock_release(const char *name, const char *token) {
    return pyjinn_abi_lock_release(PYJINN_ADDRESS(name), (int32_t)strlen(name),
                                   PYJINN_ADDRESS(token), (int32_t)strlen(token));
}

int pyjinn_ws_upgrade(void) { return pyjinn_abi_ws_upgrade(); }

int pyjinn_ws_read(int wait_ms, pyjinn_ws_message *message) {
    char *block;
    size_t length;
    int status = take_result(pyjinn_abi_ws_read(wait_ms), 0, &block, &length);
    if (status != PYJINN_OK) return status;
    if (length == 0) {
        free(block);
        return PYJINN_INTERNAL; /* the host always sends the opcode */
    }
    message->opcode = (unsigned char)block[0];
    message->close_code = 0;
    size_t skip = 1;
    if (message->opcode == PYJINN_WS_CLOSE && length >= 3) {
        message->close_code = ((unsigned char)block[1] << 8) | (unsigned char)block[2];
        skip = 3;
    }
    /* The payload moves to the front, so the block stays one allocation to free. */
    memmove(block, block + skip, length - skip + 1);
    message->data = block;
    message->length = length - skip;
    return PYJINN_OK;
}

int pyjinn_ws_write(int opcode, const void *data, size_t length) {
    return pyjinn_abi_ws_write(opcode, PYJINN_ADDRESS(data), (int32_t)length);
}

int pyjinn_ws_write_text(const char *text) {
    return pyjinn_ws_write(PYJINN_WS_TEXT, text, strlen(text));
}

int pyjinn_ws_close(int code, const char *reason) {
    return pyjinn_abi_ws_close(code, PYJINN_ADDRESS(reason), (int32_t)strlen(reason));
}
