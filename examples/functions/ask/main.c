/*
 * ask: asks the configured model (permissions { ai } in the Caddyfile) the request body as one
 * user message and answers with the model's JSON: {"text", "finish_reason", "model", "usage",
 * "cached"}. Host errors become HTTP statuses, with the host's message: a spent token budget is
 * 429, a provider that is down or too slow is 503, a host not in allow_host is 403.
 */
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

static int http_status(int status) {
    switch (status) {
    case PYJINN_DENIED: return 403;
    case PYJINN_INVALID: return 400;
    case PYJINN_BUDGET: return 429;
    case PYJINN_RATE_LIMITED: return 503;
    case PYJINN_UNAVAILABLE: return 503;
    default: return 500;
    }
}

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    pyjinn_buffer chat = {0};
    pyjinn_buffer_append_text(&chat, "{\"messages\":[{\"role\":\"user\",\"content\":");
    pyjinn_buffer_append_json(&chat, request.body, request.body_length);
    pyjinn_buffer_append_text(&chat, "}],\"max_tokens\":64,\"temperature\":0}");
    pyjinn_buffer_append(&chat, "", 1); /* NUL-terminate for the SDK */
    if (chat.status != PYJINN_OK) return 1;
    char *answer;
    size_t length;
    int status = pyjinn_ai_chat(chat.data, &answer, &length);
    pyjinn_response_header header = {"Content-Type", "application/json"};
    if (status == PYJINN_OK) {
        return pyjinn_respond(200, &header, 1, answer, length) == PYJINN_OK ? 0 : 1;
    }
    char *message = pyjinn_last_error();
    pyjinn_buffer body = {0};
    pyjinn_buffer_append_text(&body, "{\"error\":");
    pyjinn_buffer_append_json(&body, message ? message : "", message ? strlen(message) : 0);
    pyjinn_buffer_append_text(&body, "}");
    return pyjinn_respond(http_status(status), &header, 1, body.data, body.length) == PYJINN_OK
               ? 0
               : 1;
}
