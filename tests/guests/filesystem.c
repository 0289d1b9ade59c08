/* Probes what the sandbox can see: /etc/passwd, and reading, writing and creating a symbolic
 * link (up and out to /etc/passwd, answering the errno when refused) under /data. */
#include "guest.h"
#include <errno.h>
#include <fcntl.h>
static int can_read(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    char buffer[16]; ssize_t got = read(fd, buffer, sizeof buffer); close(fd);
    return got >= 0;
}
static int can_write(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 0;
    ssize_t written = write(fd, "written by the guest", 20); close(fd);
    return written == 20;
}
static int symlink_result(void) {
    return symlink("../../../../../../../../etc/passwd", "/data/link") == 0 ? 0 : errno;
}
int main(void) {
    free(read_request(NULL));
    char body[512];
    int n = snprintf(body, sizeof body,
        "{\\\"etc_passwd\\\":%d,\\\"root_listing\\\":%d,\\\"data_read\\\":%d,\\\"data_write\\\":%d,"
        "\\\"data_symlink_errno\\\":%d}",
        can_read("/etc/passwd"), can_read("/"), can_read("/data/input.txt"),
        can_write("/data/output.txt"), symlink_result());
    respond_raw_body(200, body, (size_t)n, 0);
    return 0;
}
