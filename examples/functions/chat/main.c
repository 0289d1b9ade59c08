/*
 * chat: a WebSocket actor (permissions { websocket }, docs/actors.md). Connect to /chat, or
 * /chat?name=Ada: it greets you, answers every text message with "you said: ...", and says
 * goodbye and closes the connection (1000) when you send /quit. One sandbox holds the
 * connection for its whole life, so `said` counts the messages of this connection only.
 *
 * A plain HTTP request (not a WebSocket handshake) is answered 426 Upgrade Required.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

/* Longest name accepted, in bytes of UTF-8. */
#define MAX_NAME 64

static int send_text(pyjinn_buffer *text) {
    int status = text->status == PYJINN_OK
                     ? pyjinn_ws_write(PYJINN_WS_TEXT, text->data, text->length)
                     : text->status;
    free(text->data);
    *text = (pyjinn_buffer){0};
    return status;
}

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    const char *name = pyjinn_query(&request, "name");
    if (!name || !*name || strlen(name) > MAX_NAME) name = "stranger";

    int status = pyjinn_ws_upgrade();
    if (status == PYJINN_INVALID)
        return pyjinn_respond_text(426, "text/plain", "connect with a WebSocket client") ? 1 : 0;
    if (status != PYJINN_OK) return 0; /* the client left before the handshake was accepted */

    pyjinn_buffer text = {0};
    pyjinn_buffer_append_text(&text, "Hello, ");
    pyjinn_buffer_append_text(&text, name);
    pyjinn_buffer_append_text(&text, "! Say something, or /quit to leave.");
    if (send_text(&text) != PYJINN_OK) return 0;

    long said = 0;
    for (;;) {
        pyjinn_ws_message message;
        /* Waits until the function's timeout at most: an idle client is closed with 1001, and
         * the read returns that close. */
        if (pyjinn_ws_read(-1, &message) != PYJINN_OK) break;
        int opcode = message.opcode;
        if (opcode == PYJINN_WS_CLOSE) {
            free(message.data);
            break; /* the client left, or was idle for too long */
        }
        if (opcode == PYJINN_WS_TEXT && strcmp(message.data, "/quit") == 0) {
            char goodbye[64];
            snprintf(goodbye, sizeof goodbye, "Goodbye after %ld message%s.", said,
                     said == 1 ? "" : "s");
            pyjinn_ws_write_text(goodbye);
            pyjinn_ws_close(1000, "bye");
            free(message.data);
            break;
        }
        said++;
        if (opcode == PYJINN_WS_TEXT) {
            pyjinn_buffer_append_text(&text, "you said: ");
            pyjinn_buffer_append(&text, message.data, message.length);
        } else {
            char counted[64];
            snprintf(counted, sizeof counted, "you sent %zu bytes", message.length);
            pyjinn_buffer_append_text(&text, counted);
        }
        free(message.data);
        if (send_text(&text) != PYJINN_OK) break;
    }
    return 0;
}
