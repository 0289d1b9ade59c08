//! {{name}}: a pyjinn function in Zig.
//!
//! The request arrives on stdin as one JSON object ({"method", "uri", "path", "query",
//! "headers", "body", ...}); the response leaves on stdout as one JSON object
//! {"status", "headers", "body"}. Anything written to stderr is the function's log.
//! Build it with `pyjinn build` (zig build-exe, target wasm32-wasi).

const std = @import("std");
const Io = std.Io;

/// The fields of the request this function reads; the others are ignored.
const Request = struct {
    method: []const u8 = "",
    path: []const u8 = "",
};

pub fn main(init: std.process.Init) !void {
    const io = init.io;
    // The arena is freed when the process ends, which is right after the response.
    const arena = init.arena.allocator();

    var input_buffer: [4096]u8 = undefined;
    var stdin_reader: Io.File.Reader = .init(.stdin(), io, &input_buffer);
    const input = try stdin_reader.interface.allocRemaining(arena, .unlimited);

    const request = std.json.parseFromSliceLeaky(Request, arena, input, .{
        .ignore_unknown_fields = true,
    }) catch Request{};

    const body = try std.fmt.allocPrint(arena, "Hello from {{name}} ({s} {s})", .{
        request.method, request.path,
    });
    const response = .{
        .status = 200,
        .headers = .{ .@"Content-Type" = .{"text/plain; charset=utf-8"} },
        .body = body,
    };

    var output_buffer: [4096]u8 = undefined;
    var stdout_writer: Io.File.Writer = .init(.stdout(), io, &output_buffer);
    try std.json.Stringify.value(response, .{}, &stdout_writer.interface);
    try stdout_writer.interface.flush();
}
