/*
 * fib: burns CPU on purpose. GET /fib?n=30 -> {"n":30,"fib":832040}, computed naively, so the
 * work doubles with every step of n. The default is 25; n above 45 counts as 45.
 *
 * It exists to show limits: with `timeout 2s` or `fuel_limit 2000000000` in the Caddyfile, a
 * large n (try 45) is stopped and the client gets a gateway error, while the server keeps
 * serving everyone else.
 */
#include "guest.h"

#define DEFAULT_N 25
#define MAX_N 45

static unsigned long long fib(unsigned n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/* Parse a whole number made of digits only; 1 on success. Values past MAX_N clamp to it. */
static int parse_n(const char *text, long length, unsigned *n) {
    unsigned value = 0;
    if (length <= 0) return 0;
    for (long i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') return 0;
        value = value * 10 + (unsigned)(text[i] - '0');
        if (value > MAX_N) value = MAX_N + 1; /* stays small, whatever the digits */
    }
    *n = value > MAX_N ? MAX_N : value;
    return 1;
}

int main(void) {
    guest_json request = guest_read_request();
    if (!request.start) {
        static const char error[] = "{\"error\":\"could not read the request\"}";
        return guest_respond(500, "application/json", error, sizeof error - 1);
    }

    char text[32];
    unsigned n = DEFAULT_N;
    long length = guest_query(request, "n", text, sizeof text);
    if (length != -1 && !parse_n(text, length, &n)) {
        static const char error[] = "{\"error\":\"n must be a whole number, like ?n=30\"}";
        return guest_respond(400, "application/json", error, sizeof error - 1);
    }

    unsigned long long value = fib(n);

    guest_buffer body = {0};
    guest_append_text(&body, "{\"n\":");
    guest_append_number(&body, n);
    guest_append_text(&body, ",\"fib\":");
    guest_append_number(&body, value);
    guest_append_text(&body, "}");
    if (body.failed) return 1;
    return guest_respond(200, "application/json", body.data, body.length);
}
