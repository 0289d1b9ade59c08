//! {{name}}: a WebSocket actor in Zig, with the Zig SDK (sdk/zig/pyjinn.zig, docs/abi.md).
//!
//! Connect to ws://localhost:8080/{{name}}: every message comes back as it was sent (text or
//! binary). The function takes the connection over with pyjinn.wsUpgrade and holds one sandbox
//! until the client closes, the function returns, or a limit ends it: its timeout is the idle
//! time allowed between messages and max_duration bounds the whole connection.
//! A plain HTTP request (not a WebSocket handshake) is answered 426.
//! `pyjinn dev` rebuilds and reloads this file whenever you save it.

const std = @import("std");
const pyjinn = @import("pyjinn");

pub fn main(init: std.process.Init) !void {
    pyjinn.wsUpgrade() catch {
        const header: pyjinn.Header = .{ .name = "Content-Type", .value = "text/plain" };
        return pyjinn.respond(init.io, 426, &.{header}, "connect with a WebSocket client\n");
    };
    const allocator = init.gpa;
    while (true) {
        // -1: wait up to the idle timeout. The client's close arrives once, as a message.
        const message = pyjinn.wsRead(allocator, -1) catch return;
        defer allocator.free(message.data);
        if (message.opcode == .close) return;
        pyjinn.wsWrite(message.opcode, message.data) catch return;
    }
}
