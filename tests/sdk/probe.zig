// The Zig SDK probe for tests/sdk/test_probe.py: one program whose request path picks what it
// exercises (/request, /body, /respond, /bad-header, /log, /kv). Mirrors probe.c.
const std = @import("std");
const pyjinn = @import("pyjinn");

pub fn main(init: std.process.Init) !void {
    const io = init.io;
    const arena = init.arena.allocator();
    const request = pyjinn.readRequest(io, arena) catch |err| {
        return pyjinn.respond(io, 200, &.{}, @errorName(err));
    };
    const path = request.path;
    if (std.mem.eql(u8, path, "/request")) return describe(io, arena, request);
    if (std.mem.eql(u8, path, "/body")) {
        const kind = request.header("Content-Type") orelse "text/plain";
        const header: pyjinn.Header = .{ .name = "Content-Type", .value = kind };
        return pyjinn.respond(io, 200, &.{header}, request.body);
    }
    if (std.mem.eql(u8, path, "/respond")) {
        return pyjinn.respond(io, 201, &.{
            .{ .name = "X-Multi", .value = "one" },
            .{ .name = "Content-Type", .value = "text/plain; charset=utf-8" },
            .{ .name = "x-multi", .value = "two" },
            .{ .name = "X-Quote", .value = "say \"hi\" \\ caf\xc3\xa9" },
        }, "line\n\t\"quoted\" \\ \x01 caf\xc3\xa9 \xf0\x9f\x98\x80");
    }
    if (std.mem.eql(u8, path, "/bad-header")) {
        pyjinn.respond(io, 200, &.{.{ .name = "X-Bad", .value = "\xff" }}, "") catch |err| {
            return pyjinn.respond(io, 200, &.{}, @errorName(err));
        };
        return;
    }
    if (std.mem.eql(u8, path, "/log")) {
        pyjinn.log(.debug, "probe: debug");
        pyjinn.log(.info, "probe: info");
        pyjinn.log(.warn, "probe: warn");
        pyjinn.log(.err, "probe: error");
        pyjinn.abi.log(7, pyjinn.abi.address("probe: refused"), 14);
        return pyjinn.respond(io, 200, &.{}, try pyjinn.lastError(arena));
    }
    if (std.mem.eql(u8, path, "/kv")) return keyValue(io, arena, request);
    return pyjinn.respond(io, 404, &.{}, "no such probe");
}

fn describe(io: std.Io, arena: std.mem.Allocator, request: pyjinn.Request) !void {
    var out: std.Io.Writer.Allocating = .init(arena);
    var json: std.json.Stringify = .{ .writer = &out.writer };
    try json.beginObject();
    try json.objectField("body_length");
    try json.write(request.body.len);
    inline for (.{ "method", "uri", "path", "remote_addr", "trace_id", "tenant" }) |name| {
        try json.objectField(name);
        try json.write(@field(request, name));
    }
    try json.objectField("probe_header");
    try json.write(request.header("x-PROBE"));
    try json.objectField("absent_header");
    try json.write(request.header("X-Absent"));
    try json.objectField("q");
    try json.write(request.queryParam("q"));
    try json.objectField("absent_query");
    try json.write(request.queryParam("Q"));
    try json.objectField("probe_headers");
    try json.write(request.headerValues("x-probe"));
    inline for (.{ "headers", "query" }) |name| {
        try json.objectField(name);
        try json.beginArray();
        const values = @field(request, name).map;
        for (values.keys(), values.values()) |key, items| {
            for (items) |item| try json.write(.{ key, item });
        }
        try json.endArray();
    }
    try json.endObject();
    const kind: pyjinn.Header = .{ .name = "Content-Type", .value = "application/json" };
    return pyjinn.respond(io, 200, &.{kind}, out.written());
}

fn keyValue(io: std.Io, arena: std.mem.Allocator, request: pyjinn.Request) !void {
    const op = request.queryParam("op") orelse return error.NoOp;
    const key = request.queryParam("key") orelse return error.NoKey;
    var body: []const u8 = "";
    const result: pyjinn.KvError!void = if (std.mem.eql(u8, op, "get"))
        if (pyjinn.kvGet(arena, key)) |value| {
            body = value;
        } else |err| err
    else if (std.mem.eql(u8, op, "set"))
        pyjinn.kvSet(key, request.body)
    else if (std.mem.eql(u8, op, "delete"))
        pyjinn.kvDelete(key)
    else if (std.mem.eql(u8, op, "list"))
        if (pyjinn.kvList(arena, key)) |keys| {
            body = try std.json.Stringify.valueAlloc(arena, keys, .{});
        } else |err| err
    else
        return error.UnknownOp;
    var status: []const u8 = "OK";
    result catch |err| {
        status = @errorName(err);
        body = try pyjinn.lastError(arena);
    };
    return pyjinn.respond(io, 200, &.{
        .{ .name = "X-Status", .value = status },
        .{ .name = "Content-Type", .value = "application/octet-stream" },
    }, body);
}
