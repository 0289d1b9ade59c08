/*
 * {{name}}: a WebSocket actor in C, with the C SDK (sdk/c/pyjinn.h, docs/abi.md).
 *
 * Connect to ws://localhost:8080/{{name}}: every message comes back as it was sent (text or
 * binary). The function takes the connection over with pyjinn_ws_upgrade and holds one sandbox
 * until the client closes, the function returns, or a limit ends it: its timeout is the idle
 * time allowed between messages and max_duration bounds the whole connection.
 * A plain HTTP request (not a WebSocket handshake) is answered 426.
 * `pyjinn dev` rebuilds and reloads this file whenever you save it.
 */
#include <stdlib.h>

#include "pyjinn.h"

int main(void) {
    if (pyjinn_ws_upgrade() != PYJINN_OK) {
        return pyjinn_respond_text(426, "text/plain", "connect with a WebSocket client\n") ? 1 : 0;
    }
    for (;;) {
        pyjinn_ws_message message;
        /* -1: wait up to the idle timeout. The client's close arrives once, as a message. */
        if (pyjinn_ws_read(-1, &message) != PYJINN_OK) break;
        int closing = message.opcode == PYJINN_WS_CLOSE;
        if (!closing) pyjinn_ws_write(message.opcode, message.data, message.length);
        free(message.data);
        if (closing) break;
    }
    return 0;
}
