/*
 * hello: greets the caller. GET /hello -> "Hello, world!"; GET /hello?name=Ada -> "Hello, Ada!".
 *
 * The name comes from the request's query ({"query": {"name": ["Ada"]}}), decoded from JSON
 * by the SDK and escaped again on the way out, so any name (quotes, newlines, emoji) stays
 * valid JSON.
 */
#include <string.h>

#include "pyjinn.h"

/* Longest name accepted, in bytes of UTF-8. */
#define MAX_NAME 200

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) {
        return pyjinn_respond_text(500, "application/json",
                                   "{\"error\":\"could not read the request\"}") ? 1 : 0;
    }

    const char *name = pyjinn_query(&request, "name");
    if (name && strlen(name) > MAX_NAME) {
        return pyjinn_respond_text(400, "application/json",
                                   "{\"error\":\"name is too long (at most 200 bytes)\"}") ? 1 : 0;
    }

    pyjinn_buffer greeting = {0};
    pyjinn_buffer_append_text(&greeting, "Hello, ");
    pyjinn_buffer_append_text(&greeting, name && *name ? name : "world");
    pyjinn_buffer_append_text(&greeting, "!");
    if (greeting.status != PYJINN_OK) return 1;
    pyjinn_response_header type = {"Content-Type", "text/plain; charset=utf-8"};
    return pyjinn_respond(200, &type, 1, greeting.data, greeting.length) ? 1 : 0;
}
