/*
 * orders: takes an order and hands the slow part to a job, written with the C SDK.
 *
 *     POST /orders   {"item": "book"}  ->  202 {"receipt_job": "<job id>"}
 *
 * The job runs the `receipt` function later, at least once, with the order as its request
 * body; its result is at GET /_pyjinn/jobs/<job id>. The Caddyfile grants
 * `jobs_enqueue receipt`, so this function may enqueue jobs of `receipt` and nothing else.
 * An Idempotency-Key header makes a retried POST the same job.
 */
#include <string.h>

#include "pyjinn.h"

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    if (strcmp(request.method, "POST") != 0) {
        return pyjinn_respond_text(405, "application/json",
                                   "{\"error\":\"POST an order\"}") ? 1 : 0;
    }
    char *job_id;
    int status = pyjinn_job_enqueue("receipt", request.body, request.body_length,
                                    pyjinn_header(&request, "Idempotency-Key"), &job_id);
    if (status != PYJINN_OK) {
        char *message = pyjinn_last_error();
        pyjinn_log(PYJINN_ERROR, message ? message : "job_enqueue failed");
        return pyjinn_respond_text(503, "application/json",
                                   "{\"error\":\"cannot queue the receipt\"}") ? 1 : 0;
    }
    pyjinn_buffer body = {0};
    pyjinn_buffer_append_text(&body, "{\"receipt_job\":");
    pyjinn_buffer_append_json(&body, job_id, strlen(job_id));
    pyjinn_buffer_append_text(&body, "}");
    if (body.status != PYJINN_OK) return 1;
    pyjinn_response_header header = {"Content-Type", "application/json"};
    return pyjinn_respond(202, &header, 1, body.data, body.length) == PYJINN_OK ? 0 : 1;
}
