"""A C guest (built with the C SDK) that makes the outbound request its own request describes,
shared by the HTTP capability and replay tests.

- query ``method`` (default GET) and ``url``; header ``X-Out-Headers`` (the headers argument, a
  JSON object); the request's body is the outbound body;
- path ``/gojinn``: Gojinn's ``host_http_get`` with a buffer of query ``max`` bytes (default
  4096), answering the bytes copied;
- query ``crash=1``: trap after the call (for crash records).

It answers 200 with the upstream body, ``X-Upstream-Status`` and ``X-Upstream-Headers``; or 502
with ``{"code", "message"}`` when the call failed (the guest always answers: a refusal is a
code, never a trap).
"""

from __future__ import annotations

FETCH = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

__attribute__((import_module("gojinn"), import_name("host_http_get")))
long long host_http_get(int32_t url, int32_t url_length, int32_t out, int32_t out_max);

static int fail(int status) {
    char *message = pyjinn_last_error();
    pyjinn_buffer out = {0};
    pyjinn_buffer_append_text(&out, "{\"code\":\"");
    pyjinn_buffer_append_text(&out, pyjinn_status_name(status));
    pyjinn_buffer_append_text(&out, "\",\"message\":");
    pyjinn_buffer_append_json(&out, message, strlen(message));
    pyjinn_buffer_append_text(&out, "}");
    return pyjinn_respond(502, NULL, 0, out.data, out.length) ? 1 : 0;
}

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    const char *url = pyjinn_query(&request, "url");
    const char *method = pyjinn_query(&request, "method");
    const char *crash = pyjinn_query(&request, "crash");
    if (!url) return 1;
    if (strcmp(request.path, "/gojinn") == 0) {
        const char *max = pyjinn_query(&request, "max");
        int32_t capacity = max ? (int32_t)atoi(max) : 4096;
        char *buffer = malloc((size_t)capacity + 1);
        long long copied = host_http_get(PYJINN_ADDRESS(url), (int32_t)strlen(url),
                                         PYJINN_ADDRESS(buffer), capacity);
        if (crash) __builtin_trap();
        char number[24];
        snprintf(number, sizeof number, "%lld", copied);
        pyjinn_response_header header = {"X-Copied", number};
        return pyjinn_respond(200, &header, 1, buffer, (size_t)copied) ? 1 : 0;
    }
    pyjinn_http_response response;
    int status = pyjinn_http_request(method ? method : "GET", url,
                                     pyjinn_header(&request, "X-Out-Headers"), request.body,
                                     request.body_length, &response);
    if (crash) __builtin_trap();
    if (status != PYJINN_OK) return fail(status);
    char number[16];
    snprintf(number, sizeof number, "%d", response.status);
    pyjinn_response_header headers[] = {
        {"X-Upstream-Status", number},
        {"X-Upstream-Headers", response.headers},
    };
    return pyjinn_respond(200, headers, 2, response.body, response.body_length) ? 1 : 0;
}
"""
