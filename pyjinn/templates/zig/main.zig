//! {{name}}: a pyjinn function in Zig, with the Zig SDK (sdk/zig/pyjinn.zig, docs/abi.md).
//!
//! GET /{{name}} -> "Hello from {{name}} (GET /{{name}})"; ?name=Ada greets Ada instead.
//! The request arrives on stdin as JSON and the SDK decodes it; the response leaves on stdout.
//! Anything written to stderr (or pyjinn.log) is the function's log.
//! `pyjinn dev` rebuilds and reloads this file whenever you save it.

const std = @import("std");
const pyjinn = @import("pyjinn");

pub fn main(init: std.process.Init) !void {
    // The arena is freed when the process ends, which is right after the response.
    const arena = init.arena.allocator();
    const request = try pyjinn.readRequest(init.io, arena);
    const body = if (request.queryParam("name")) |name|
        try std.fmt.allocPrint(arena, "Hello, {s}, from {{name}}", .{name})
    else
        try std.fmt.allocPrint(arena, "Hello from {{name}} ({s} {s})", .{ request.method, request.path });
    const header: pyjinn.Header = .{ .name = "Content-Type", .value = "text/plain; charset=utf-8" };
    try pyjinn.respond(init.io, 200, &.{header}, body);
}
