/*
 * greeting: answers with the GREETING environment variable, which the Caddyfile sets with
 * `env GREETING "..."`. A guest sees only the variables configured for it, never the host's.
 * Without GREETING it answers 500 {"error":"GREETING is not set"}.
 */
#include <stdlib.h>
#include <string.h>

#include "guest.h"

int main(void) {
    guest_read_request(); /* not needed, but a function consumes its request */

    const char *greeting = getenv("GREETING");
    if (!greeting) {
        static const char error[] = "{\"error\":\"GREETING is not set\"}";
        guest_log("GREETING is not set; configure it with: env GREETING \"...\"");
        return guest_respond(500, "application/json", error, sizeof error - 1);
    }
    return guest_respond(200, "text/plain; charset=utf-8", greeting, strlen(greeting));
}
