/*
 * hello: greets the caller. GET /hello -> "Hello, world!"; GET /hello?name=Ada -> "Hello, Ada!".
 *
 * The name comes from the request's query ({"query": {"name": ["Ada"]}}), decoded from JSON
 * and escaped again on the way out, so any name (quotes, newlines, emoji) stays valid JSON.
 */
#include <string.h>

#include "guest.h"

/* Longest name accepted, in bytes of UTF-8. */
#define MAX_NAME 200

int main(void) {
    guest_json request = guest_read_request();
    if (!request.start) {
        static const char error[] = "{\"error\":\"could not read the request\"}";
        return guest_respond(500, "application/json", error, sizeof error - 1);
    }

    char name[MAX_NAME + 1];
    long length = guest_query(request, "name", name, sizeof name);
    if (length == -2) {
        static const char error[] = "{\"error\":\"name is too long (at most 200 bytes)\"}";
        return guest_respond(400, "application/json", error, sizeof error - 1);
    }

    guest_buffer greeting = {0};
    guest_append_text(&greeting, "Hello, ");
    if (length > 0) {
        guest_append(&greeting, name, (size_t)length);
    } else {
        guest_append_text(&greeting, "world");
    }
    guest_append_text(&greeting, "!");
    if (greeting.failed) return 1;
    return guest_respond(200, "text/plain; charset=utf-8", greeting.data, greeting.length);
}
