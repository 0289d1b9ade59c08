/*
 * invoice: looks up an invoice by number, written with the C SDK. It is an MCP tool
 * (the Caddyfile's ai_tool block): an MCP client calls lookup_invoice with {"number": "INV-1001"}
 * and this function receives those arguments as its request body, with method "MCP". It answers
 * over plain HTTP the same way: POST /invoice -d '{"number": "INV-1001"}'.
 *
 * The "database" is arithmetic on the number, so the example needs no storage: even numbers are
 * paid, odd ones open, and the amount follows from the digits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

static int reply(int status, const char *json, size_t length) {
    pyjinn_response_header header = {"Content-Type", "application/json"};
    return pyjinn_respond(status, &header, 1, json, length) == PYJINN_OK ? 0 : 1;
}

/* The digits after "INV-" in the body's "number" string, or -1. The input schema already
 * checked the shape ({"number": "INV-" followed by digits}) before this function started. */
static long invoice_number(const char *body) {
    const char *found = strstr(body, "\"INV-");
    if (!found) return -1;
    char *end;
    long number = strtol(found + 5, &end, 10);
    return (end > found + 5 && *end == '"') ? number : -1;
}

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    long number = invoice_number(request.body);
    if (number < 0) {
        static const char error[] = "{\"error\":\"expected {\\\"number\\\": \\\"INV-1001\\\"}\"}";
        return reply(400, error, sizeof error - 1);
    }
    char text[160];
    int length = snprintf(text, sizeof text,
                          "{\"number\":\"INV-%ld\",\"status\":\"%s\",\"amount_cents\":%ld,"
                          "\"currency\":\"EUR\"}",
                          number, number % 2 == 0 ? "paid" : "open", (number * 37) % 100000);
    return reply(200, text, (size_t)length);
}
