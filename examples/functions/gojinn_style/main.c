/*
 * gojinn_style: a function written the way Gojinn's Go SDK shapes one, to show that such
 * functions run on pyjinn unchanged. With the SDK it would read:
 *
 *     req, err := sdk.Parse()            // {method, uri, headers, body} from stdin
 *     if err != nil { sdk.SendError(400, "invalid request"); return }
 *     sdk.Log("Received method: %s", req.Method)
 *     sdk.SendJSON(map[string]any{"message": "...", "method": req.Method, "uri": req.URI,
 *                                 "body_length": len(req.Body)})
 *
 * Gojinn's envelope has only method, uri, headers and body; pyjinn sends more fields (path,
 * query, ...), which a Gojinn function ignores, as encoding/json does. The output is what the
 * SDK's json.NewEncoder(os.Stdout).Encode writes: struct fields in order, map keys sorted,
 * <, > and & escaped, and a trailing newline. The SDK's SendError builds its JSON with
 * Sprintf and does not escape the message; this one does.
 */
#include <stdlib.h>
#include <string.h>

#include "guest.h"

typedef struct {
    char method[32];
    char *uri;
    char *body;
    size_t body_length;
    guest_json headers;
} gojinn_request;

/* Decode a string member into freshly allocated memory; NULL when absent or malformed. */
static char *string_member(guest_json object, const char *key, size_t *length) {
    guest_json value;
    if (!guest_member(object, key, &value)) return NULL;
    /* Decoding never makes a string longer than its JSON text. */
    size_t capacity = (size_t)(value.end - value.start) + 1;
    char *text = malloc(capacity);
    long decoded = text ? guest_string(value, text, capacity) : -1;
    if (decoded < 0) {
        free(text);
        return NULL;
    }
    if (length) *length = (size_t)decoded;
    return text;
}

/* sdk.Parse(): 1 when the request has a method and a uri. */
static int parse(gojinn_request *request) {
    guest_json input = guest_read_request();
    guest_json method;
    if (!input.start || !guest_member(input, "method", &method) ||
        guest_string(method, request->method, sizeof request->method) < 0) {
        return 0;
    }
    request->uri = string_member(input, "uri", NULL);
    request->body = string_member(input, "body", &request->body_length);
    if (!guest_member(input, "headers", &request->headers)) request->headers.start = NULL;
    return request->uri != NULL;
}

/* sdk.send(): the Response struct, encoded by json.Encoder. */
static int send(int status, const char *content_type, const char *body, size_t body_length) {
    guest_buffer response = {0};
    guest_append_text(&response, "{\"status\":");
    guest_append_number(&response, (unsigned)status);
    guest_append_text(&response, ",\"headers\":{\"Content-Type\":[");
    guest_append_json_string(&response, content_type, strlen(content_type), 1);
    guest_append_text(&response, "],\"X-Powered-By\":[\"pyjinn\"]},\"body\":");
    guest_append_json_string(&response, body, body_length, 1);
    guest_append_text(&response, "}\n");
    int exit_code = !response.failed && guest_write_all(1, response.data, response.length) == 0;
    free(response.data);
    return exit_code ? 0 : 1;
}

/* sdk.SendError(status, message): {"error": "message"}, with Go's space after the colon. */
static int send_error(int status, const char *message) {
    guest_buffer body = {0};
    guest_append_text(&body, "{\"error\": ");
    guest_append_json_string(&body, message, strlen(message), 1);
    guest_append_text(&body, "}");
    return body.failed ? 1 : send(status, "application/json", body.data, body.length);
}

int main(void) {
    gojinn_request request = {0};
    if (!parse(&request)) return send_error(400, "invalid request");

    guest_buffer line = {0};
    guest_append_text(&line, "USER_LOG: Received method: ");
    guest_append_text(&line, request.method);
    guest_append(&line, "", 1); /* NUL-terminate for guest_log */
    if (!line.failed) guest_log(line.data);

    /* sdk.SendJSON(map[string]any{...}): keys sorted, as encoding/json sorts map keys. */
    guest_buffer body = {0};
    guest_append_text(&body, "{\"body_length\":");
    guest_append_number(&body, request.body_length);
    guest_append_text(&body, ",\"message\":\"Hello from a Gojinn-style function\",\"method\":");
    guest_append_json_string(&body, request.method, strlen(request.method), 1);
    guest_append_text(&body, ",\"uri\":");
    guest_append_json_string(&body, request.uri, strlen(request.uri), 1);
    guest_append_text(&body, "}");
    if (body.failed) return 1;
    return send(200, "application/json", body.data, body.length);
}
