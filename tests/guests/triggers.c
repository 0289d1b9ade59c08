/* A trigger's function: answers with the whole request document it read on stdin (so tests
 * see the envelope a trigger built), after failing attempts 1..FAIL_UNTIL (environment) and
 * sleeping SLEEP_MS (environment) milliseconds. */
#include "guest.h"
#include <time.h>
int main(void) {
    size_t length;
    char *request = read_request(&length);
    const char *fail = getenv("FAIL_UNTIL");
    const char *sleep = getenv("SLEEP_MS");
    const char *found = strstr(request, "\"attempt\":");
    long attempt = found ? atol(found + strlen("\"attempt\":")) : 0;
    long sleep_ms = sleep ? atol(sleep) : 0;
    if (sleep_ms > 0) {
        struct timespec wait = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
        nanosleep(&wait, NULL);
    }
    if (fail && attempt <= atol(fail)) {
        fprintf(stderr, "triggers: failing attempt %ld on purpose\n", attempt);
        return 1;
    }
    char *escaped = malloc(length * 2 + 1);
    size_t o = 0;
    for (size_t i = 0; i < length; i++) {
        char c = request[i];
        if (c == '"' || c == '\\') escaped[o++] = '\\';
        escaped[o++] = c;
    }
    respond_raw_body(200, escaped, o, 0);
    return 0;
}
