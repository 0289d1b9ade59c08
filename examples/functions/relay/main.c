/*
 * relay: calls an HTTP API (permissions { http }, the host in allow_host) and answers with
 * what it said: GET /relay?name=NAME asks UPSTREAM (an env var the Caddyfile sets; by default
 * the hello route of this very server) with ?name=NAME, and answers
 * {"upstream_status": 200, "upstream": "<its body>"}.
 *
 * ?url=URL asks URL instead, to show the allow-list at work: a host allow_host does not list
 * (169.254.169.254, another port of 127.0.0.1, ...) is refused before any connection, and
 * the answer is {"error": "DENIED", "message": "..."}. Each refusal has its own code: an
 * allowed name that resolves to a private address is ADDRESS_REFUSED, a server that does not
 * answer in time is TIMEOUT, an answer over 8 MiB is LIMIT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

static int http_status(int status) {
    switch (status) {
    case PYJINN_DENIED:
    case PYJINN_ADDRESS_REFUSED: return 403;
    case PYJINN_INVALID: return 400;
    case PYJINN_TIMEOUT: return 504;
    default: return 502;
    }
}

/* Append `text` percent-encoded, as a query value. */
static void append_query_value(pyjinn_buffer *out, const char *text) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            pyjinn_buffer_append(out, p, 1);
        } else {
            char escaped[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            pyjinn_buffer_append(out, escaped, 3);
        }
    }
}

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    pyjinn_response_header json = {"Content-Type", "application/json"};
    const char *upstream = getenv("UPSTREAM");
    const char *url = pyjinn_query(&request, "url");
    pyjinn_buffer target = {0};
    if (url) {
        pyjinn_buffer_append_text(&target, url);
    } else {
        const char *name = pyjinn_query(&request, "name");
        pyjinn_buffer_append_text(&target, upstream ? upstream : "");
        pyjinn_buffer_append_text(&target, "?name=");
        append_query_value(&target, name ? name : "relay");
    }
    pyjinn_buffer_append(&target, "", 1); /* NUL-terminate for the SDK */
    if (target.status != PYJINN_OK) return 1;

    pyjinn_http_response response;
    int status = pyjinn_http_request("GET", target.data, "{\"Accept\":\"text/plain\"}", NULL, 0,
                                     &response);
    pyjinn_buffer body = {0};
    if (status != PYJINN_OK) {
        char *message = pyjinn_last_error();
        pyjinn_buffer_append_text(&body, "{\"error\":\"");
        pyjinn_buffer_append_text(&body, pyjinn_status_name(status));
        pyjinn_buffer_append_text(&body, "\",\"message\":");
        pyjinn_buffer_append_json(&body, message ? message : "", message ? strlen(message) : 0);
        pyjinn_buffer_append_text(&body, "}");
        return pyjinn_respond(http_status(status), &json, 1, body.data, body.length) ? 1 : 0;
    }
    char number[12];
    snprintf(number, sizeof number, "%d", response.status);
    pyjinn_buffer_append_text(&body, "{\"upstream_status\":");
    pyjinn_buffer_append_text(&body, number);
    pyjinn_buffer_append_text(&body, ",\"upstream\":");
    pyjinn_buffer_append_json(&body, response.body, response.body_length);
    pyjinn_buffer_append_text(&body, "}");
    if (body.status != PYJINN_OK) return 1; /* an upstream body that is not UTF-8 */
    return pyjinn_respond(200, &json, 1, body.data, body.length) ? 1 : 0;
}
