/*
 * greeting: answers with the GREETING environment variable, which the Caddyfile sets with
 * `env GREETING "..."`. A guest sees only the variables configured for it, never the host's.
 * Without GREETING it answers 500 {"error":"GREETING is not set"}.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pyjinn.h"

int main(void) {
    pyjinn_request request;
    pyjinn_read_request(&request); /* not needed, but a function consumes its request */

    const char *greeting = getenv("GREETING");
    if (!greeting) {
        /* stderr is the function's log, as pyjinn_log is. */
        fputs("GREETING is not set; configure it with: env GREETING \"...\"\n", stderr);
        return pyjinn_respond_text(500, "application/json",
                                   "{\"error\":\"GREETING is not set\"}") ? 1 : 0;
    }
    return pyjinn_respond_text(200, "text/plain; charset=utf-8", greeting) ? 1 : 0;
}
