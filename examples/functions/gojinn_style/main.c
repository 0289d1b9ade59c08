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
 *
 * pyjinn's C SDK reads the request; the response is written here, byte for byte as Go would,
 * rather than with pyjinn_respond.
 */
#include <stdio.h>
#include <string.h>

#include "pyjinn.h"

/* A JSON string as encoding/json writes it: HTML-safe (<, > and & as \u003c, \u003e, \u0026,
 * and U+2028, U+2029 escaped too). The text is UTF-8, as the SDK decoded it. */
static void go_string(pyjinn_buffer *out, const char *text) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)text;
    pyjinn_buffer_append_text(out, "\"");
    for (; *p; p++) {
        unsigned char c = *p;
        if (c == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
            pyjinn_buffer_append_text(out, p[2] == 0xA8 ? "\\u2028" : "\\u2029");
            p += 2;
        } else if (c == '"' || c == '\\') {
            char escape[2] = {'\\', (char)c};
            pyjinn_buffer_append(out, escape, 2);
        } else if (c == '\n') {
            pyjinn_buffer_append_text(out, "\\n");
        } else if (c == '\r') {
            pyjinn_buffer_append_text(out, "\\r");
        } else if (c == '\t') {
            pyjinn_buffer_append_text(out, "\\t");
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            pyjinn_buffer_append(out, escape, sizeof escape);
        } else {
            pyjinn_buffer_append(out, p, 1);
        }
    }
    pyjinn_buffer_append_text(out, "\"");
}

/* sdk.send(): the Response struct, encoded by json.Encoder, then a newline. */
static int send(int status, const char *content_type, const char *body) {
    char number[16];
    snprintf(number, sizeof number, "%d", status);
    pyjinn_buffer response = {0};
    pyjinn_buffer_append_text(&response, "{\"status\":");
    pyjinn_buffer_append_text(&response, number);
    pyjinn_buffer_append_text(&response, ",\"headers\":{\"Content-Type\":[");
    go_string(&response, content_type);
    pyjinn_buffer_append_text(&response, "],\"X-Powered-By\":[\"pyjinn\"]},\"body\":");
    go_string(&response, body);
    pyjinn_buffer_append_text(&response, "}\n");
    if (response.status != PYJINN_OK) return 1;
    size_t written = fwrite(response.data, 1, response.length, stdout);
    return written == response.length && fflush(stdout) == 0 ? 0 : 1;
}

/* sdk.SendError(status, message): {"error": "message"}, with Go's space after the colon. */
static int send_error(int status, const char *message) {
    pyjinn_buffer body = {0};
    pyjinn_buffer_append_text(&body, "{\"error\": ");
    go_string(&body, message);
    pyjinn_buffer_append(&body, "}", 2); /* with the NUL, for send */
    return body.status != PYJINN_OK ? 1 : send(status, "application/json", body.data);
}

int main(void) {
    /* sdk.Parse(): a request with a method and a uri. */
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK || !*request.method || !*request.uri) {
        return send_error(400, "invalid request");
    }

    fprintf(stderr, "USER_LOG: Received method: %s\n", request.method);

    /* sdk.SendJSON(map[string]any{...}): keys sorted, as encoding/json sorts map keys. */
    char number[24];
    snprintf(number, sizeof number, "%zu", request.body_length);
    pyjinn_buffer body = {0};
    pyjinn_buffer_append_text(&body, "{\"body_length\":");
    pyjinn_buffer_append_text(&body, number);
    pyjinn_buffer_append_text(&body, ",\"message\":\"Hello from a Gojinn-style function\"");
    pyjinn_buffer_append_text(&body, ",\"method\":");
    go_string(&body, request.method);
    pyjinn_buffer_append_text(&body, ",\"uri\":");
    go_string(&body, request.uri);
    pyjinn_buffer_append(&body, "}", 2); /* with the NUL, for send */
    return body.status != PYJINN_OK ? 1 : send(200, "application/json", body.data);
}
