//! echo: answers with the request it received, as JSON.
//!
//!     GET /echo/hi?x=1  ->  {"method":"GET","path":"/echo/hi","query":{"x":["1"]},
//!                            "headers":{...},"body":"","body_encoding":null}
//!
//! A body that is not valid UTF-8 reaches the function base64-encoded with
//! "body_encoding":"base64"; echo passes both through untouched, so the client can decode it.

const std = @import("std");
const Io = std.Io;

/// The request fields echoed back, in this order.
const echoed_fields = [_][]const u8{ "method", "path", "query", "headers", "body", "body_encoding" };

pub fn main(init: std.process.Init) !void {
    const io = init.io;
    // The arena is freed when the process ends, which is right after the response.
    const arena = init.arena.allocator();

    var input_buffer: [4096]u8 = undefined;
    var stdin_reader: Io.File.Reader = .init(.stdin(), io, &input_buffer);
    const input = try stdin_reader.interface.allocRemaining(arena, .unlimited);

    var output_buffer: [4096]u8 = undefined;
    var stdout_writer: Io.File.Writer = .init(.stdout(), io, &output_buffer);
    const stdout = &stdout_writer.interface;

    const request = std.json.parseFromSliceLeaky(std.json.Value, arena, input, .{}) catch null;
    if (request == null or request.? != .object) {
        try respond(stdout, 400, "{\"error\":\"the request is not a JSON object\"}");
        return;
    }

    var body: Io.Writer.Allocating = .init(arena);
    var json: std.json.Stringify = .{ .writer = &body.writer };
    try json.beginObject();
    for (echoed_fields) |field| {
        try json.objectField(field);
        try json.write(request.?.object.get(field) orelse .null);
    }
    try json.endObject();

    try respond(stdout, 200, body.written());
}

/// Write the response envelope with a JSON body, then flush it out.
fn respond(stdout: *Io.Writer, status: u16, body: []const u8) !void {
    const response = .{
        .status = status,
        .headers = .{ .@"Content-Type" = .{"application/json"} },
        .body = body,
    };
    try std.json.Stringify.value(response, .{}, stdout);
    try stdout.flush();
}
