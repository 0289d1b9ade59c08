/*
 * Process per request, CGI-style: what people ran before in-process sandboxes.
 *
 * A small HTTP/1.1 server (keep-alive, one thread per connection) that, for every request,
 * starts COMMAND as a new process with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) + execve,
 * the cheapest way to start a process), writes the request body to its stdin, and answers 200
 * with its stdout, or 502 if it exits non-zero. Written in C so that the front costs as little
 * as possible and the comparison measures starting a process per request, not a slow front.
 *
 * Build: gcc -O2 -pthread -o cgi cgi.c        Usage: cgi PORT COMMAND [ARG...]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUFFER 65536

extern char **environ;
static char **command;

static int write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

/* Run COMMAND with body on stdin; its stdout into out (at most capacity); exit status or -1. */
static int run_command(const char *body, size_t body_length, char *out, size_t capacity,
                       size_t *out_length) {
    int input[2], output[2];
    if (pipe2(input, O_CLOEXEC) || pipe2(output, O_CLOEXEC)) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, input[0], 0);
    posix_spawn_file_actions_adddup2(&actions, output[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int failed = posix_spawn(&pid, command[0], &actions, NULL, command, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(input[0]);
    close(output[1]);
    if (failed) {
        close(input[1]);
        close(output[0]);
        return -1;
    }
    write_all(input[1], body, body_length); /* bodies here are far below the pipe's 64 KiB */
    close(input[1]);
    size_t length = 0;
    for (;;) {
        ssize_t got = read(output[0], out + length, capacity - length);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        length += (size_t)got;
        if (length == capacity) break;
    }
    close(output[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *out_length = length;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void *serve(void *argument) {
    int client = (int)(long)argument;
    char *request = malloc(BUFFER), *out = malloc(BUFFER), head[256];
    size_t have = 0;
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(request, have, "\r\n\r\n", 4))) {
            if (have == BUFFER) goto done;
            ssize_t got = read(client, request + have, BUFFER - have);
            if (got <= 0) goto done;
            have += (size_t)got;
        }
        size_t header_length = (size_t)(end - request) + 4, body_length = 0;
        int keep_alive = 1;
        for (char *line = request; line < end; line = strstr(line, "\r\n") + 2) {
            if (strncasecmp(line, "Content-Length:", 15) == 0) body_length = strtoul(line + 15, 0, 10);
            if (strncasecmp(line, "Connection: close", 17) == 0) keep_alive = 0;
        }
        if (header_length + body_length > BUFFER) goto done;
        while (have < header_length + body_length) {
            ssize_t got = read(client, request + have, BUFFER - have);
            if (got <= 0) goto done;
            have += (size_t)got;
        }
        size_t out_length = 0;
        int status = run_command(request + header_length, body_length, out, BUFFER, &out_length);
        int code = status == 0 ? 200 : 502;
        int head_length = snprintf(head, sizeof head,
                                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                                   "Content-Length: %zu\r\n\r\n",
                                   code, code == 200 ? "OK" : "Bad Gateway", out_length);
        if (write_all(client, head, (size_t)head_length) || write_all(client, out, out_length))
            goto done;
        if (!keep_alive) goto done;
        memmove(request, request + header_length + body_length,
                have - header_length - body_length);
        have -= header_length + body_length;
    }
done:
    close(client);
    free(request);
    free(out);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT COMMAND [ARG...]\n", argv[0]);
        return 2;
    }
    command = argv + 2;
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 1024)) {
        perror("listen");
        return 1;
    }
    for (;;) {
        int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) continue;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attributes, 256 * 1024);
        if (pthread_create(&thread, &attributes, serve, (void *)(long)client)) close(client);
        pthread_attr_destroy(&attributes);
    }
}
