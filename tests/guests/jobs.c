/* A job's function, misbehaving on request: ?fail_until=N fails (exit 1) on attempts 1..N,
 * ?sleep_ms=N takes that long; it answers "job=<job_id> attempt=<n> body=<body>". */
#include "guest.h"
#include <time.h>
int main(void) {
    char *request = read_request(NULL);
    long fail_until = query_number(request, "fail_until", 0);
    long sleep_ms = query_number(request, "sleep_ms", 0);
    const char *found = strstr(request, "\"attempt\":");
    long attempt = found ? atol(found + strlen("\"attempt\":")) : 0;
    size_t id_length = 0, body_length = 0;
    char *id = raw_string(request, "job_id", &id_length);
    char *body = raw_string(request, "body", &body_length);
    if (sleep_ms > 0) {
        struct timespec wait = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
        nanosleep(&wait, NULL);
    }
    if (attempt <= fail_until) {
        fprintf(stderr, "jobs: failing attempt %ld on purpose\n", attempt);
        return 1;
    }
    char answer[512];
    int n = snprintf(answer, sizeof answer, "job=%.*s attempt=%ld body=%.*s", (int)id_length,
                     id ? id : "", attempt, (int)(body_length > 200 ? 200 : body_length),
                     body ? body : "");
    respond_raw_body(200, answer, (size_t)n, 0);
    return 0;
}
