/*
 * fib: burns CPU on purpose. GET /fib?n=30 -> {"n":30,"fib":832040}, computed naively, so the
 * work doubles with every step of n. The default is 25; n above 45 counts as 45.
 *
 * It exists to show limits: with `timeout 2s` or `fuel_limit 2000000000` in the Caddyfile, a
 * large n (try 45) is stopped and the client gets a gateway error, while the server keeps
 * serving everyone else.
 */
#include <stdio.h>
#include <string.h>

#include "pyjinn.h"

#define DEFAULT_N 25
#define MAX_N 45

static unsigned long long fib(unsigned n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/* Parse a whole number of 1 to 20 digits (what fits in 64 bits); 1 on success. Values past
 * MAX_N clamp to it. */
static int parse_n(const char *text, unsigned *n) {
    unsigned value = 0;
    size_t length = strlen(text);
    if (length == 0 || length > 20) return 0;
    for (; *text; text++) {
        if (*text < '0' || *text > '9') return 0;
        value = value * 10 + (unsigned)(*text - '0');
        if (value > MAX_N) value = MAX_N + 1; /* stays small, whatever the digits */
    }
    *n = value > MAX_N ? MAX_N : value;
    return 1;
}

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) {
        return pyjinn_respond_text(500, "application/json",
                                   "{\"error\":\"could not read the request\"}") ? 1 : 0;
    }

    unsigned n = DEFAULT_N;
    const char *text = pyjinn_query(&request, "n");
    if (text && !parse_n(text, &n)) {
        return pyjinn_respond_text(400, "application/json",
                                   "{\"error\":\"n must be a whole number, like ?n=30\"}") ? 1 : 0;
    }

    char body[64];
    snprintf(body, sizeof body, "{\"n\":%u,\"fib\":%llu}", n, fib(n));
    return pyjinn_respond_text(200, "application/json", body) ? 1 : 0;
}
