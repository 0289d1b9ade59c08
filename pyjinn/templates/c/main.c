/*
 * {{name}}: a pyjinn function in C, with the C SDK (sdk/c/pyjinn.h, docs/abi.md).
 *
 * GET /{{name}} -> "Hello from {{name}}"; GET /{{name}}?name=Ada -> "Hello, Ada, from {{name}}".
 * The request arrives on stdin as JSON and the SDK decodes it; the response leaves on stdout.
 * Anything written to stderr (or pyjinn_log) is the function's log.
 * `pyjinn dev` rebuilds and reloads this file whenever you save it.
 */
#include "pyjinn.h"

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;

    const char *name = pyjinn_query(&request, "name");
    pyjinn_buffer text = {0};
    if (name && *name) {
        pyjinn_buffer_append_text(&text, "Hello, ");
        pyjinn_buffer_append_text(&text, name);
        pyjinn_buffer_append_text(&text, ", from {{name}}");
    } else {
        pyjinn_buffer_append_text(&text, "Hello from {{name}}");
    }
    if (text.status != PYJINN_OK) return 1;
    pyjinn_response_header type = {"Content-Type", "text/plain; charset=utf-8"};
    return pyjinn_respond(200, &type, 1, text.data, text.length) ? 1 : 0;
}
