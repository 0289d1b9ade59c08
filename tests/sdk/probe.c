/*
 * The C SDK probe for tests/sdk/test_probe.py: one program whose request path picks what it
 * exercises (/request, /body, /respond, /bad-header, /log, /kv). Mirrors probe.zig.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

static void member(pyjinn_buffer *out, const char *name, const char *value, size_t length) {
    pyjinn_buffer_append_text(out, ",");
    pyjinn_buffer_append_json(out, name, strlen(name));
    pyjinn_buffer_append_text(out, ":");
    if (value) {
        pyjinn_buffer_append_json(out, value, length);
    } else {
        pyjinn_buffer_append_text(out, "null");
    }
}

static void text_member(pyjinn_buffer *out, const char *name, const char *value) {
    member(out, name, value, value ? strlen(value) : 0);
}

static void fields(pyjinn_buffer *out, const char *name, const pyjinn_field *items, size_t count) {
    pyjinn_buffer_append_text(out, ",");
    pyjinn_buffer_append_json(out, name, strlen(name));
    pyjinn_buffer_append_text(out, ":[");
    for (size_t i = 0; i < count; i++) {
        if (i) pyjinn_buffer_append_text(out, ",");
        pyjinn_buffer_append_text(out, "[");
        pyjinn_buffer_append_json(out, items[i].name, strlen(items[i].name));
        pyjinn_buffer_append_text(out, ",");
        pyjinn_buffer_append_json(out, items[i].value, items[i].value_length);
        pyjinn_buffer_append_text(out, "]");
    }
    pyjinn_buffer_append_text(out, "]");
}

static int answer_json(pyjinn_buffer *out) {
    if (out->status != PYJINN_OK) return 2;
    return pyjinn_respond_text(200, "application/json", out->data) == PYJINN_OK ? 0 : 3;
}

static int describe(const pyjinn_request *request) {
    char number[32];
    pyjinn_buffer out = {0};
    snprintf(number, sizeof number, "%zu", request->body_length);
    pyjinn_buffer_append_text(&out, "{\"body_length\":");
    pyjinn_buffer_append_text(&out, number);
    text_member(&out, "method", request->method);
    text_member(&out, "uri", request->uri);
    text_member(&out, "path", request->path);
    text_member(&out, "remote_addr", request->remote_addr);
    text_member(&out, "trace_id", request->trace_id);
    text_member(&out, "tenant", request->tenant);
    text_member(&out, "probe_header", pyjinn_header(request, "x-PROBE"));
    text_member(&out, "absent_header", pyjinn_header(request, "X-Absent"));
    text_member(&out, "q", pyjinn_query(request, "q"));
    text_member(&out, "absent_query", pyjinn_query(request, "Q"));
    fields(&out, "headers", request->headers, request->header_count);
    fields(&out, "query", request->query, request->query_count);
    pyjinn_buffer_append_text(&out, "}");
    return answer_json(&out);
}

static int respond_with_status(int status) {
    return pyjinn_respond_text(200, "text/plain", pyjinn_status_name(status)) ? 3 : 0;
}

static int log_levels(void) {
    pyjinn_log(PYJINN_DEBUG, "probe: debug");
    pyjinn_log(PYJINN_INFO, "probe: info");
    pyjinn_log(PYJINN_WARN, "probe: warn");
    pyjinn_log_bytes(PYJINN_ERROR, "probe: error, and not this", 12);
    pyjinn_log((pyjinn_level)7, "probe: a level the host refuses");
    char *message = pyjinn_last_error();
    if (!message) return 2;
    return pyjinn_respond_text(200, "text/plain", message) ? 3 : 0;
}

/* ?op=get|set|delete|list&key=K (the body is the value to set). Answers the status's name in
 * X-Status, and the value, the keys as JSON, or the host's error message in the body. */
static int key_value(const pyjinn_request *request) {
    const char *op = pyjinn_query(request, "op");
    const char *key = pyjinn_query(request, "key");
    char *value = NULL, **keys = NULL;
    size_t length = 0, count = 0;
    int status;
    pyjinn_buffer out = {0};
    if (!op || !key) return 4;
    if (strcmp(op, "get") == 0) {
        status = pyjinn_kv_get(key, &value, &length);
        if (status == PYJINN_OK && value[length] != '\0') return 5;
        pyjinn_buffer_append(&out, value, length);
    } else if (strcmp(op, "set") == 0) {
        status = pyjinn_kv_set(key, request->body, request->body_length);
    } else if (strcmp(op, "delete") == 0) {
        status = pyjinn_kv_delete(key);
    } else if (strcmp(op, "list") == 0) {
        status = pyjinn_kv_list(key, &keys, &count);
        if (status == PYJINN_OK && keys[count] != NULL) return 5;
        pyjinn_buffer_append_text(&out, "[");
        for (size_t i = 0; i < count; i++) {
            if (i) pyjinn_buffer_append_text(&out, ",");
            pyjinn_buffer_append_json(&out, keys[i], strlen(keys[i]));
        }
        pyjinn_buffer_append_text(&out, "]");
    } else {
        return 4;
    }
    if (status != PYJINN_OK) {
        char *message = pyjinn_last_error();
        if (!message) return 2;
        out.length = 0;
        pyjinn_buffer_append_text(&out, message);
    }
    if (out.status != PYJINN_OK) return 2;
    pyjinn_response_header headers[] = {
        {"X-Status", pyjinn_status_name(status)},
        {"Content-Type", "application/octet-stream"},
    };
    return pyjinn_respond(200, headers, 2, out.data, out.length) ? 3 : 0;
}

int main(void) {
    pyjinn_request request;
    int status = pyjinn_read_request(&request);
    if (status != PYJINN_OK) return respond_with_status(status);
    const char *path = request.path;

    if (strcmp(path, "/request") == 0) return describe(&request);
    if (strcmp(path, "/body") == 0) {
        const char *type = pyjinn_header(&request, "Content-Type");
        pyjinn_response_header header = {"Content-Type", type ? type : "text/plain"};
        return pyjinn_respond(200, &header, 1, request.body, request.body_length) ? 3 : 0;
    }
    if (strcmp(path, "/respond") == 0) {
        static const char body[] = "line\n\t\"quoted\" \\ \x01 caf\xc3\xa9 \xf0\x9f\x98\x80";
        pyjinn_response_header headers[] = {
            {"X-Multi", "one"},
            {"Content-Type", "text/plain; charset=utf-8"},
            {"x-multi", "two"},
            {"X-Quote", "say \"hi\" \\ caf\xc3\xa9"},
        };
        return pyjinn_respond(201, headers, 4, body, sizeof body - 1) ? 3 : 0;
    }
    if (strcmp(path, "/bad-header") == 0) {
        pyjinn_response_header header = {"X-Bad", "\xff"};
        return respond_with_status(pyjinn_respond(200, &header, 1, "", 0));
    }
    if (strcmp(path, "/log") == 0) return log_levels();
    if (strcmp(path, "/kv") == 0) return key_value(&request);
    return pyjinn_respond_text(404, "text/plain", "no such probe") ? 3 : 0;
}
