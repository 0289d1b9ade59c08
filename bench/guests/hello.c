/*
 * hello: the pyjinn "hello world" for the HTTP benchmarks. Reads the request (as every
 * function must, to see it) and answers 200 text/plain "hello".
 */
#include <unistd.h>

static char request[65536];

static void write_all(const char *data, long length) {
    while (length > 0) {
        long written = write(1, data, (unsigned long)length);
        if (written <= 0) return;
        data += written;
        length -= written;
    }
}

int main(void) {
    while (read(0, request, sizeof request) > 0) {
    }
    static const char response[] =
        "{\"status\":200,\"headers\":{\"Content-Type\":[\"text/plain\"]},\"body\":\"hello\"}";
    write_all(response, sizeof response - 1);
    return 0;
}
