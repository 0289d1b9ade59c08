/* A WebSocket actor built with the C SDK: it echoes every message with its type, and obeys a few
 * text commands that make it misbehave or report what the host answered:
 *   trap         traps (unreachable)
 *   spin         computes forever
 *   flood N      writes N binary messages of 64 KiB, then reports "flood: STATUS after I"
 *   close        closes the connection with 4000 "bye"
 *   poll         waits 50 ms for a message: "poll: NOT_FOUND", or the message
 *   big N        writes a message of N bytes, reports "big: STATUS"
 *   upgrade      upgrades again, reports "upgrade: STATUS"
 * A plain HTTP request (not a handshake) is answered 400 with the upgrade's status. The close
 * that ends the connection is logged as "closed CODE REASON". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

static void report(const char *what, int status, long count) {
    char text[96];
    if (count >= 0)
        snprintf(text, sizeof text, "%s: %s after %ld", what, pyjinn_status_name(status), count);
    else
        snprintf(text, sizeof text, "%s: %s", what, pyjinn_status_name(status));
    pyjinn_log(PYJINN_INFO, text);
    pyjinn_ws_write_text(text);
}

int main(void) {
    int status = pyjinn_ws_upgrade();
    if (status != PYJINN_OK) {
        char text[64];
        snprintf(text, sizeof text, "websocket only (%s)", pyjinn_status_name(status));
        return pyjinn_respond_text(400, "text/plain", text) ? 1 : 0;
    }
    static char chunk[65536];
    for (;;) {
        pyjinn_ws_message message;
        status = pyjinn_ws_read(-1, &message);
        if (status != PYJINN_OK) break;
        if (message.opcode == PYJINN_WS_CLOSE) {
            char text[200];
            snprintf(text, sizeof text, "closed %d %s", message.close_code, message.data);
            pyjinn_log(PYJINN_INFO, text);
        } else if (message.opcode == PYJINN_WS_TEXT && strcmp(message.data, "trap") == 0) {
            __builtin_trap();
        } else if (message.opcode == PYJINN_WS_TEXT && strcmp(message.data, "spin") == 0) {
            volatile unsigned long spins = 0;
            for (;;) spins++;
        } else if (message.opcode == PYJINN_WS_TEXT && strncmp(message.data, "flood ", 6) == 0) {
            long count = atol(message.data + 6), sent = 0;
            for (; sent < count; sent++) {
                status = pyjinn_ws_write(PYJINN_WS_BINARY, chunk, sizeof chunk);
                if (status != PYJINN_OK) break;
            }
            report("flood", status, sent);
        } else if (message.opcode == PYJINN_WS_TEXT && strcmp(message.data, "close") == 0) {
            pyjinn_ws_close(4000, "bye");
        } else if (message.opcode == PYJINN_WS_TEXT && strcmp(message.data, "poll") == 0) {
            pyjinn_ws_message next;
            status = pyjinn_ws_read(50, &next);
            if (status == PYJINN_OK) {
                pyjinn_ws_write(next.opcode, next.data, next.length);
                free(next.data);
            } else {
                report("poll", status, -1);
            }
        } else if (message.opcode == PYJINN_WS_TEXT && strncmp(message.data, "big ", 4) == 0) {
            size_t length = (size_t)atol(message.data + 4);
            char *data = calloc(length ? length : 1, 1);
            report("big", data ? pyjinn_ws_write(PYJINN_WS_BINARY, data, length) : PYJINN_NO_MEMORY,
                   -1);
            free(data);
        } else if (message.opcode == PYJINN_WS_TEXT && strcmp(message.data, "upgrade") == 0) {
            report("upgrade", pyjinn_ws_upgrade(), -1);
        } else {
            pyjinn_ws_write(message.opcode, message.data, message.length);
        }
        free(message.data);
    }
    return 0;
}
