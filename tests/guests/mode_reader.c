/* Reads /conf/mode.txt from its mount and traps when it says "crash"; answers its first line
 * otherwise (crash record tests: a failure that depends on a mounted file). */
#include "guest.h"
#include <fcntl.h>
int main(void) {
    free(read_request(NULL));
    char mode[64] = {0};
    int fd = open("/conf/mode.txt", O_RDONLY);
    if (fd < 0) {
        respond_raw_body(500, "no mode file", 12, 0);
        return 0;
    }
    ssize_t got = read(fd, mode, sizeof mode - 1);
    close(fd);
    if (got >= 5 && memcmp(mode, "crash", 5) == 0) __builtin_trap();
    respond_raw_body(200, mode, got > 0 ? (size_t)got : 0, 0);
    return 0;
}
