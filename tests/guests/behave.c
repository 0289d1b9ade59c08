/* Misbehaves on request: ?sleep_ms=N sleeps, ?stdout_mb=N / ?stderr_mb=N floods, ?alloc_mb=N
 * allocates, ?exit=N exits, ?random=1 answers 16 random bytes as hex, ?count=1 answers how
 * many times this instance has run (always 1 in a fresh sandbox). */
#include "guest.h"
#include <time.h>
static int runs = 0;
int main(void) {
    runs++;
    char *request = read_request(NULL);
    long sleep_ms = query_number(request, "sleep_ms", 0);
    long stdout_mb = query_number(request, "stdout_mb", 0);
    long stderr_mb = query_number(request, "stderr_mb", 0);
    long alloc_mb = query_number(request, "alloc_mb", 0);
    long exit_code = query_number(request, "exit", -1);
    fprintf(stderr, "behave: starting\n");
    if (sleep_ms > 0) {
        struct timespec wait = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
        nanosleep(&wait, NULL);
    }
    if (stderr_mb > 0) {
        static char line[1024];
        memset(line, 'e', sizeof line - 1); line[sizeof line - 1] = '\n';
        for (long i = 0; i < stderr_mb * 1024; i++) write_all(2, line, sizeof line);
    }
    if (stdout_mb > 0) {
        static char chunk[65536];
        memset(chunk, 'x', sizeof chunk);
        for (long i = 0; i < stdout_mb * 16; i++) write_all(1, chunk, sizeof chunk);
        return 0;
    }
    if (alloc_mb > 0) {
        static volatile char *blocks[4096];
        for (long i = 0; i < alloc_mb && i < 4096; i++) {
            blocks[i] = malloc(1 << 20);  /* kept, so the compiler cannot drop the allocation */
            if (!blocks[i]) { fprintf(stderr, "behave: out of memory after %ld MiB\n", i); abort(); }
            memset((char *)blocks[i], 1, 1 << 20);
        }
    }
    if (exit_code >= 0) { fprintf(stderr, "behave: exiting with %ld\n", exit_code); exit((int)exit_code); }
    char body[128]; int n;
    if (query_number(request, "random", 0)) {
        unsigned char bytes[16]; getentropy(bytes, sizeof bytes);
        n = 0;
        for (int i = 0; i < 16; i++) n += snprintf(body + n, sizeof body - (size_t)n, "%02x", bytes[i]);
    } else {
        n = snprintf(body, sizeof body, "runs=%d", runs);
    }
    respond_raw_body(200, body, (size_t)n, 0);
    return 0;
}
