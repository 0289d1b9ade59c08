/*
 * notes: a small note store on the key-value capability, written with the C SDK.
 *
 *     GET    /notes         the names of the notes, as a JSON array
 *     GET    /notes/NAME    the note's text
 *     PUT    /notes/NAME    store the request body as the note
 *     DELETE /notes/NAME    remove the note
 *
 * Note NAME is key "notes/NAME"; the Caddyfile grants kv_read and kv_write on the namespace
 * "notes", which covers exactly those keys. Names use A-Z a-z 0-9 _ - . = and may hold / (the
 * host checks keys and answers INVALID otherwise). Host errors become HTTP statuses, with the
 * host's message in a JSON body: {"error": "..."}.
 */
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

#define NAMESPACE "notes/"

static int http_status(int status) {
    switch (status) {
    case PYJINN_NOT_FOUND: return 404;
    case PYJINN_DENIED: return 403;
    case PYJINN_INVALID: return 400;
    case PYJINN_UNAVAILABLE: return 503;
    case PYJINN_LIMIT: return 413;
    default: return 500;
    }
}

static int reply(int status, const char *content_type, const void *body, size_t length) {
    pyjinn_response_header header = {"Content-Type", content_type};
    return pyjinn_respond(status, &header, 1, body, length) == PYJINN_OK ? 0 : 1;
}

static int reply_error(int status, const char *message) {
    pyjinn_buffer body = {0};
    pyjinn_buffer_append_text(&body, "{\"error\":");
    pyjinn_buffer_append_json(&body, message, strlen(message));
    pyjinn_buffer_append_text(&body, "}");
    if (body.status != PYJINN_OK) return 1;
    return reply(status, "application/json", body.data, body.length);
}

/* Answer a failed host call with its HTTP status and the host's message. */
static int reply_failure(int status) {
    char *message = pyjinn_last_error();
    if (!message) return 1;
    if (status == PYJINN_UNAVAILABLE) pyjinn_log(PYJINN_ERROR, message);
    return reply_error(http_status(status), message);
}

static int list_notes(void) {
    char **keys;
    size_t count;
    int status = pyjinn_kv_list(NAMESPACE, &keys, &count);
    if (status != PYJINN_OK) return reply_failure(status);
    pyjinn_buffer body = {0};
    pyjinn_buffer_append_text(&body, "[");
    for (size_t i = 0; i < count; i++) {
        const char *name = keys[i] + strlen(NAMESPACE); /* every key starts with the prefix */
        if (i) pyjinn_buffer_append_text(&body, ",");
        pyjinn_buffer_append_json(&body, name, strlen(name));
    }
    pyjinn_buffer_append_text(&body, "]");
    if (body.status != PYJINN_OK) return 1;
    return reply(200, "application/json", body.data, body.length);
}

static int note(const pyjinn_request *request, const char *key) {
    const char *method = request->method;
    int status;
    if (strcmp(method, "GET") == 0) {
        char *text;
        size_t length;
        status = pyjinn_kv_get(key, &text, &length);
        if (status == PYJINN_OK) return reply(200, "text/plain; charset=utf-8", text, length);
    } else if (strcmp(method, "PUT") == 0) {
        status = pyjinn_kv_set(key, request->body, request->body_length);
        if (status == PYJINN_OK) return pyjinn_respond(204, NULL, 0, "", 0) ? 1 : 0;
    } else if (strcmp(method, "DELETE") == 0) {
        status = pyjinn_kv_delete(key);
        if (status == PYJINN_OK) return pyjinn_respond(204, NULL, 0, "", 0) ? 1 : 0;
    } else {
        return reply_error(405, "use GET, PUT or DELETE on /notes/NAME");
    }
    return reply_failure(status);
}

int main(void) {
    pyjinn_request request;
    int status = pyjinn_read_request(&request);
    if (status != PYJINN_OK) return 1;

    const char *path = request.path;
    if (strcmp(path, "/notes") == 0 || strcmp(path, "/notes/") == 0) {
        if (strcmp(request.method, "GET") != 0) return reply_error(405, "use GET on /notes");
        return list_notes();
    }
    if (strncmp(path, "/notes/", 7) != 0) return reply_error(404, "no such route");

    const char *name = path + 7;
    size_t length = strlen(NAMESPACE) + strlen(name);
    char *key = malloc(length + 1);
    if (!key) return 1;
    strcpy(key, NAMESPACE);
    strcat(key, name);
    return note(&request, key);
}
