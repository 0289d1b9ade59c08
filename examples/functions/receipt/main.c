/*
 * receipt: the job `orders` enqueues. It reads the order (the job's request body) and answers
 * the receipt text, which becomes the job's result. A job is run at least once: anything it
 * does must be safe to do twice.
 */
#include <string.h>

#include "pyjinn.h"

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    pyjinn_buffer text = {0};
    pyjinn_buffer_append_text(&text, "Receipt for order: ");
    pyjinn_buffer_append_text(&text, request.body_length ? request.body : "(empty)");
    if (text.status != PYJINN_OK) return 1;
    pyjinn_response_header header = {"Content-Type", "text/plain; charset=utf-8"};
    return pyjinn_respond(200, &header, 1, text.data, text.length) == PYJINN_OK ? 0 : 1;
}
