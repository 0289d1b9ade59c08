/*
 * {{name}}: a pyjinn function in C.
 *
 * The request arrives on stdin as one JSON object ({"method", "uri", "path", "query",
 * "headers", "body", ...}); the response leaves on stdout as one JSON object
 * {"status", "headers", "body"}. Anything written to stderr is the function's log.
 * Build it with `pyjinn build` (zig cc, target wasm32-wasi).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Read stdin to the end. This function does not need the request, but a function must
 * consume it so the host never blocks writing it. */
static void drain_stdin(void) {
    char buffer[4096];
    ssize_t count;
    do {
        count = read(0, buffer, sizeof buffer);
    } while (count > 0 || (count < 0 && errno == EINTR));
}

/* write() may write less than asked for, so loop until everything is out. */
static int write_all(const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(1, data, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

int main(void) {
    static const char response[] =
        "{\"status\":200,"
        "\"headers\":{\"Content-Type\":[\"text/plain; charset=utf-8\"]},"
        "\"body\":\"Hello from {{name}}\"}";

    drain_stdin();
    return write_all(response, strlen(response)) == 0 ? 0 : 1;
}
