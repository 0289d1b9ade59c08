/*
 * desk: one help desk of the routing-by-meaning example. The same module serves three routes
 * (billing, support and helpdesk in the Caddyfile); TEAM, set per route, says which desk
 * answered. It echoes the text the router read, so you can see what went where.
 */
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    const char *team = getenv("TEAM");
    pyjinn_buffer body = {0};
    pyjinn_buffer_append_text(&body, "{\"desk\":");
    pyjinn_buffer_append_json(&body, team ? team : "unknown", strlen(team ? team : "unknown"));
    pyjinn_buffer_append_text(&body, ",\"you_said\":");
    pyjinn_buffer_append_json(&body, request.body, request.body_length);
    pyjinn_buffer_append_text(&body, "}");
    if (body.status != PYJINN_OK) return 1;
    pyjinn_response_header header = {"Content-Type", "application/json"};
    return pyjinn_respond(200, &header, 1, body.data, body.length) == PYJINN_OK ? 0 : 1;
}
