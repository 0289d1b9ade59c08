/*
 * heartbeat: a cron function. Each tick of its schedule (see the Caddyfile) runs it as a job
 * whose body says which tick it is:
 *
 *     {"event_type":"cron","source":"pyjinn","schedule":"@every 10s",
 *      "tick":"2026-01-01T12:00:10.000Z","missed":0}
 *
 * It keeps the last one under the key "heartbeat/last". An HTTP GET answers with it, so
 * `curl localhost:8080/heartbeat` shows when the schedule last fired.
 */
#include <string.h>

#include "pyjinn.h"

#define KEY "heartbeat/last"

static int reply(int status, const void *body, size_t length) {
    pyjinn_response_header type = {"Content-Type", "application/json"};
    return pyjinn_respond(status, &type, 1, body, length) == PYJINN_OK ? 0 : 1;
}

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    /* Only pyjinn makes ASYNC requests (its HTTP server refuses that method), so a request
     * that merely carries the header is not taken for a tick. */
    const char *trigger = pyjinn_header(&request, "X-Pyjinn-Trigger");
    if (strcmp(request.method, "ASYNC") == 0 && trigger && strcmp(trigger, "cron") == 0) {
        /* A tick: remember it. Failing (exit 1) lets the job queue retry it. */
        if (pyjinn_kv_set(KEY, request.body, request.body_length) != PYJINN_OK) {
            pyjinn_log(PYJINN_ERROR, pyjinn_last_error());
            return 1;
        }
        pyjinn_log(PYJINN_INFO, request.body);
        return reply(200, "{\"stored\":true}", 15);
    }
    char *last;
    size_t length;
    int status = pyjinn_kv_get(KEY, &last, &length);
    if (status == PYJINN_NOT_FOUND) {
        const char *none = "{\"error\":\"no tick yet\"}";
        return reply(404, none, strlen(none));
    }
    if (status != PYJINN_OK) return 1;
    return reply(200, last, length);
}
