//! The Zig SDK for pyjinn functions (host ABI version 1, Zig 0.17). docs/abi.md describes
//! the ABI this file binds.
//!
//!     const std = @import("std");
//!     const pyjinn = @import("pyjinn");
//!
//!     pub fn main(init: std.process.Init) !void {
//!         const request = try pyjinn.readRequest(init.io, init.arena.allocator());
//!         pyjinn.log(.info, request.path);
//!         const name = request.queryParam("name") orelse "world";
//!         const header: pyjinn.Header = .{ .name = "Content-Type", .value = "text/plain" };
//!         try pyjinn.respond(init.io, 200, &.{header}, name);
//!     }
//!
//! Build it with the zig from the `ziglang` wheel, giving this file as the module `pyjinn`:
//!
//!     python -m ziglang build-exe -target wasm32-wasi -O ReleaseSmall \
//!         --dep pyjinn -Mroot=main.zig -Mpyjinn=sdk/zig/pyjinn.zig
//!
//! Host calls fail with `Error`, one error per ABI error code. Results are read into buffers
//! sized exactly, from the allocator given: nothing is truncated.

const std = @import("std");
const builtin = @import("builtin");
const Allocator = std.mem.Allocator;
const Io = std.Io;

comptime {
    if (builtin.cpu.arch != .wasm32) @compileError("the pyjinn SDK is for wasm32-wasi guests");
}

pub const abi_version = 1;

/// The host functions of import module "pyjinn", with the wasm types of pyjinn/abi.py: i32 for
/// integers, pointers and lengths, i64 for data results. The functions below are built on
/// these; use them directly only for something this SDK does not offer.
pub const abi = struct {
    pub extern "pyjinn" fn log(level: i32, message: i32, message_length: i32) void;
    pub extern "pyjinn" fn result_read(buffer: i32, capacity: i32) i32;
    pub extern "pyjinn" fn error_read(buffer: i32, capacity: i32) i32;
    pub extern "pyjinn" fn kv_get(key: i32, key_length: i32) i64;
    pub extern "pyjinn" fn kv_set(key: i32, key_length: i32, value: i32, value_length: i32) i32;
    pub extern "pyjinn" fn kv_delete(key: i32, key_length: i32) i32;
    pub extern "pyjinn" fn kv_list(prefix: i32, prefix_length: i32) i64;
    pub extern "pyjinn" fn db_query(sql: i32, sql_len: i32, params: i32, params_len: i32) i64;
    pub extern "pyjinn" fn db_exec(sql: i32, sql_len: i32, params: i32, params_len: i32) i64;
    pub extern "pyjinn" fn blob_put(key: i32, key_length: i32, data: i32, data_length: i32) i32;
    pub extern "pyjinn" fn blob_get(key: i32, key_length: i32) i64;
    pub extern "pyjinn" fn blob_delete(key: i32, key_length: i32) i32;
    pub extern "pyjinn" fn blob_list(prefix: i32, prefix_length: i32) i64;
    pub extern "pyjinn" fn job_enqueue(
        function: i32,
        function_length: i32,
        payload: i32,
        payload_length: i32,
        idempotency_key: i32,
        idempotency_key_length: i32,
    ) i64;
    pub extern "pyjinn" fn ai_chat(request: i32, request_length: i32) i64;
    pub extern "pyjinn" fn ai_embed(texts: i32, texts_length: i32) i64;
    pub extern "pyjinn" fn http_request(
        method: i32,
        method_length: i32,
        url: i32,
        url_length: i32,
        headers: i32,
        headers_length: i32,
        body: i32,
        body_length: i32,
    ) i64;
    pub extern "pyjinn" fn lock_acquire(
        name: i32,
        name_length: i32,
        ttl_seconds: i32,
        wait_ms: i32,
    ) i64;
    pub extern "pyjinn" fn lock_release(
        name: i32,
        name_length: i32,
        token: i32,
        token_length: i32,
    ) i32;
    pub extern "pyjinn" fn ws_upgrade() i32;
    pub extern "pyjinn" fn ws_read(wait_ms: i32) i64;
    pub extern "pyjinn" fn ws_write(opcode: i32, data: i32, data_length: i32) i32;
    pub extern "pyjinn" fn ws_close(code: i32, reason: i32, reason_length: i32) i32;

    /// A slice as the (pointer, length) pair of i32 the host reads.
    pub fn address(bytes: []const u8) i32 {
        if (bytes.len == 0) return 0; // an empty slice's pointer may be anything
        return @bitCast(@as(u32, @intCast(@intFromPtr(bytes.ptr))));
    }

    pub fn length(bytes: []const u8) i32 {
        return @bitCast(@as(u32, @intCast(bytes.len)));
    }
};

/// The host's error codes (pyjinn.abi.ErrorCode).
pub const ErrorCode = enum(i32) {
    not_found = -1,
    denied = -2,
    invalid = -3,
    unavailable = -4,
    limit = -5,
    internal = -6,
    budget = -7,
    rate_limited = -8,
    timeout = -9,
    address_refused = -10,
    busy = -11,
    closed = -12,
};

/// What a host call can fail with, one error per `ErrorCode`.
pub const Error = error{
    /// No such key.
    NotFound,
    /// The function's permissions do not cover it.
    Denied,
    /// A bad argument: a bad key, pointer or length.
    Invalid,
    /// The backend is down or not configured.
    Unavailable,
    /// A size or quota was exceeded.
    Limit,
    /// A fault in the host (also: a code this SDK does not know).
    Internal,
    /// The tenant's token budget (ai_tokens_per_minute) is spent for now.
    Budget,
    /// The model's provider refused for its own rate limit (HTTP 429).
    RateLimited,
    /// The call ran out of time (an outbound request).
    Timeout,
    /// An allowed host resolved to an address outbound calls may not reach.
    AddressRefused,
    /// The lock is held by another holder.
    Busy,
    /// The WebSocket connection is closed (its close was read).
    Closed,
};

/// The error for a negative host result.
pub fn errorFromCode(code: i64) Error {
    return switch (code) {
        @backingInt(ErrorCode.not_found) => error.NotFound,
        @backingInt(ErrorCode.denied) => error.Denied,
        @backingInt(ErrorCode.invalid) => error.Invalid,
        @backingInt(ErrorCode.unavailable) => error.Unavailable,
        @backingInt(ErrorCode.limit) => error.Limit,
        @backingInt(ErrorCode.budget) => error.Budget,
        @backingInt(ErrorCode.rate_limited) => error.RateLimited,
        @backingInt(ErrorCode.timeout) => error.Timeout,
        @backingInt(ErrorCode.address_refused) => error.AddressRefused,
        @backingInt(ErrorCode.busy) => error.Busy,
        @backingInt(ErrorCode.closed) => error.Closed,
        else => error.Internal,
    };
}

fn check(status: i32) Error!void {
    if (status < 0) return errorFromCode(status);
}

// ---- logging and errors --------------------------------------------------------------------

pub const Level = enum(i32) { debug = 0, info = 1, warn = 2, err = 3 };

/// Write a record to the function's log (the host keeps the first 4096 bytes of a message).
pub fn log(level: Level, message: []const u8) void {
    abi.log(@backingInt(level), abi.address(message), abi.length(message));
}

/// The message of the last failed host call ("" when none failed). Call it right after the
/// call that failed.
pub fn lastError(allocator: Allocator) Allocator.Error![]u8 {
    const size = abi.error_read(0, 0); // capacity 0 asks for the length
    const message = try allocator.alloc(u8, @intCast(@max(size, 0)));
    if (message.len == 0) return message;
    const copied = abi.error_read(abi.address(message), abi.length(message));
    return message[0..@intCast(@max(copied, 0))];
}

// ---- key-value ------------------------------------------------------------------------------

/// Keys are 1 to 256 of A-Z a-z 0-9 _ - . / = (docs/abi.md); the function's permissions grant
/// namespaces: kv_read notes covers "notes" and "notes/...".
pub const KvError = Error || Allocator.Error;

/// Read a key's value, allocated with `allocator`; error.NotFound when it has none.
pub fn kvGet(allocator: Allocator, key: []const u8) KvError![]u8 {
    return takeResult(allocator, abi.kv_get(abi.address(key), abi.length(key)));
}

/// Write a key.
pub fn kvSet(key: []const u8, value: []const u8) Error!void {
    return check(abi.kv_set(
        abi.address(key),
        abi.length(key),
        abi.address(value),
        abi.length(value),
    ));
}

/// Delete a key; deleting a missing key is not an error.
pub fn kvDelete(key: []const u8) Error!void {
    return check(abi.kv_delete(abi.address(key), abi.length(key)));
}

/// The readable keys that start with `prefix` ("" for all). Allocates with `allocator` and
/// does not free what it parses, so give it an arena (such as `init.arena`).
pub fn kvList(allocator: Allocator, prefix: []const u8) KvError![]const []const u8 {
    const json = try takeResult(allocator, abi.kv_list(abi.address(prefix), abi.length(prefix)));
    return std.json.parseFromSliceLeaky([]const []const u8, allocator, json, .{}) catch |err|
        switch (err) {
            error.OutOfMemory => error.OutOfMemory,
            else => error.Internal, // the host sent something that is not a list of keys
        };
}

// ---- SQL --------------------------------------------------------------------------------------

/// Run one SQL statement, in a transaction of its own, against the tenant's database. `params`
/// is a JSON array bound by the engine ("" for none; bytes as {"base64": "..."}); placeholders
/// are the engine's own: ? for SQLite and libSQL, $1 for PostgreSQL. Returns the JSON
/// {"columns":[...],"rows":[[...],...]}, allocated with `allocator`.
pub fn dbQuery(allocator: Allocator, sql: []const u8, params: []const u8) KvError![]u8 {
    return takeResult(allocator, abi.db_query(
        abi.address(sql),
        abi.length(sql),
        abi.address(params),
        abi.length(params),
    ));
}

/// Run one SQL statement that changes data (needs permissions { db write }). Returns the JSON
/// {"rows_affected":N,"last_insert_id":N or null}, allocated with `allocator`.
pub fn dbExec(allocator: Allocator, sql: []const u8, params: []const u8) KvError![]u8 {
    return takeResult(allocator, abi.db_exec(
        abi.address(sql),
        abi.length(sql),
        abi.address(params),
        abi.length(params),
    ));
}

// ---- object storage ---------------------------------------------------------------------------

/// Keys follow the key-value rules, at most 255 characters; blob_read and blob_write grant
/// namespaces. Objects are at most blob_max_size bytes (32 MiB by default).
pub const Blob = struct { key: []const u8, size: u64 };

/// Store an object, replacing any object of that key.
pub fn blobPut(key: []const u8, data: []const u8) Error!void {
    return check(abi.blob_put(
        abi.address(key),
        abi.length(key),
        abi.address(data),
        abi.length(data),
    ));
}

/// Read an object, allocated with `allocator`; error.NotFound when there is none.
pub fn blobGet(allocator: Allocator, key: []const u8) KvError![]u8 {
    return takeResult(allocator, abi.blob_get(abi.address(key), abi.length(key)));
}

/// Delete an object; deleting a missing object is not an error.
pub fn blobDelete(key: []const u8) Error!void {
    return check(abi.blob_delete(abi.address(key), abi.length(key)));
}

/// The readable objects whose keys start with `prefix`, sorted by key. Allocates with
/// `allocator` and does not free what it parses, so give it an arena.
pub fn blobList(allocator: Allocator, prefix: []const u8) KvError![]const Blob {
    const json = try takeResult(allocator, abi.blob_list(abi.address(prefix), abi.length(prefix)));
    return std.json.parseFromSliceLeaky([]const Blob, allocator, json, .{}) catch |err|
        switch (err) {
            error.OutOfMemory => error.OutOfMemory,
            else => error.Internal, // the host sent something that is not a list of objects
        };
}

/// Enqueue a job of `function` (granted by jobs_enqueue) for this request's tenant, with
/// `payload` as its request body; an empty `idempotency_key` means none. Returns the job's id,
/// allocated with `allocator`.
pub fn jobEnqueue(
    allocator: Allocator,
    function: []const u8,
    payload: []const u8,
    idempotency_key: []const u8,
) KvError![]u8 {
    return takeResult(allocator, abi.job_enqueue(
        abi.address(function),
        abi.length(function),
        abi.address(payload),
        abi.length(payload),
        abi.address(idempotency_key),
        abi.length(idempotency_key),
    ));
}

// ---- the model --------------------------------------------------------------------------------

/// Ask the configured model (permissions { ai }): `request` is an OpenAI-style chat request as
/// JSON, without the model. Returns the answer's JSON ({"text", "finish_reason", "model",
/// "usage", "cached"}), allocated with `allocator`.
pub fn aiChat(allocator: Allocator, request: []const u8) KvError![]u8 {
    return takeResult(allocator, abi.ai_chat(abi.address(request), abi.length(request)));
}

/// Embed texts with the local model: `texts` is a JSON string or array of strings. Returns
/// {"model", "dimensions", "embeddings": [[...], ...]}, allocated with `allocator`.
pub fn aiEmbed(allocator: Allocator, texts: []const u8) KvError![]u8 {
    return takeResult(allocator, abi.ai_embed(abi.address(texts), abi.length(texts)));
}

// ---- outbound HTTP and locks -------------------------------------------------------------------

/// An answer to an outbound request: its status, its headers as JSON
/// ({"name":["value",...]}, lower-case names) and its body.
pub const HttpResponse = struct { status: i32, headers: []const u8, body: []const u8 };

/// Send an HTTP request (permissions { http }; only to the hosts allow_host lists). `headers`
/// is a JSON object of names to a string or an array of strings ("" for none). Any status is
/// an answer; the refusals are errors: Denied (a host or redirect target not in allow_host),
/// AddressRefused, Limit (over 8 MiB, more than 5 redirects), Timeout, Unavailable, Invalid.
/// The answer is allocated with `allocator` (one buffer).
pub fn httpRequest(
    allocator: Allocator,
    method: []const u8,
    url: []const u8,
    headers: []const u8,
    body: []const u8,
) KvError!HttpResponse {
    const block = try takeResult(allocator, abi.http_request(
        abi.address(method),
        abi.length(method),
        abi.address(url),
        abi.length(url),
        abi.address(headers),
        abi.length(headers),
        abi.address(body),
        abi.length(body),
    ));
    // {"status":N,"headers":{...}} then a newline, then the body (docs/abi.md).
    const status_key = "{\"status\":";
    const headers_key = ",\"headers\":";
    const newline = std.mem.indexOfScalar(u8, block, '\n') orelse return error.Internal;
    const head = block[0..newline];
    if (!std.mem.startsWith(u8, head, status_key) or !std.mem.endsWith(u8, head, "}"))
        return error.Internal;
    const comma = std.mem.indexOfPos(u8, head, status_key.len, headers_key) orelse
        return error.Internal;
    const status = std.fmt.parseInt(i32, head[status_key.len..comma], 10) catch
        return error.Internal;
    return .{
        .status = status,
        .headers = head[comma + headers_key.len .. head.len - 1],
        .body = block[newline + 1 ..],
    };
}

/// Take this tenant's lock `name` (permissions { lock NAMESPACE }) for at most `ttl_seconds`
/// (1 to 86400), waiting up to `wait_ms` for its holder to let go; error.Busy when another
/// holds it. Returns the token that releases it, allocated with `allocator`. Locks still held
/// when the invocation ends are released then.
pub fn lockAcquire(
    allocator: Allocator,
    name: []const u8,
    ttl_seconds: u32,
    wait_ms: u32,
) KvError![]u8 {
    return takeResult(allocator, abi.lock_acquire(
        abi.address(name),
        abi.length(name),
        @bitCast(ttl_seconds),
        @bitCast(wait_ms),
    ));
}

/// Release a lock with its token: error.Denied when another holds it, error.NotFound when
/// nobody does (its TTL ran out).
pub fn lockRelease(name: []const u8, token: []const u8) Error!void {
    return check(abi.lock_release(
        abi.address(name),
        abi.length(name),
        abi.address(token),
        abi.length(token),
    ));
}

// ---- WebSocket connections ---------------------------------------------------------------------

/// A message's type, as WebSocket numbers it.
pub const WsOpcode = enum(u8) { text = 1, binary = 2, close = 8 };

/// One message of a WebSocket connection.
pub const WsMessage = struct {
    opcode: WsOpcode,
    /// The payload, or a close's reason, allocated with the allocator given to `wsRead`.
    data: []u8,
    /// A close's code (1000 normal, 1001 idle timeout or max_duration, ...); 0 otherwise.
    close_code: u16,
};

/// Take over the WebSocket connection of the request being served (permissions { websocket }):
/// the function holds it until it returns; its timeout is then the idle time allowed between
/// messages. `error.Invalid` when the request is not a WebSocket upgrade, `error.Closed` when
/// the client has left.
pub fn wsUpgrade() Error!void {
    return check(abi.ws_upgrade());
}

/// Wait up to `wait_ms` milliseconds (negative: until the idle timeout) for the next message;
/// `error.NotFound` when none came in time. The end of the connection comes once, as a message
/// with opcode `.close`; after it, `error.Closed`.
pub fn wsRead(allocator: Allocator, wait_ms: i32) KvError!WsMessage {
    const block = try takeResult(allocator, abi.ws_read(wait_ms));
    defer allocator.free(block);
    if (block.len == 0) return error.Internal;
    const opcode: WsOpcode = switch (block[0]) {
        1 => .text,
        2 => .binary,
        8 => .close,
        else => return error.Internal,
    };
    var skip: usize = 1;
    var code: u16 = 0;
    if (opcode == .close and block.len >= 3) {
        code = (@as(u16, block[1]) << 8) | block[2];
        skip = 3;
    }
    return .{ .opcode = opcode, .data = try allocator.dupe(u8, block[skip..]), .close_code = code };
}

/// Send a message (`.text` or `.binary`). Waits while the client is behind; `error.Limit` for
/// a message over max_message, or a client that read nothing until the idle timeout was near
/// (the connection is then closed); `error.Closed` once it is closed.
pub fn wsWrite(opcode: WsOpcode, data: []const u8) Error!void {
    return check(abi.ws_write(@backingInt(opcode), abi.address(data), abi.length(data)));
}

/// Close the connection with `code` (1000, or 3000 to 4999) and a reason of at most 123 bytes,
/// after the messages written before.
pub fn wsClose(code: u16, reason: []const u8) Error!void {
    return check(abi.ws_close(code, abi.address(reason), abi.length(reason)));
}

/// Copy the pending result of a data call (`result` is what it returned) into a new buffer.
fn takeResult(allocator: Allocator, result: i64) KvError![]u8 {
    if (result < 0) return errorFromCode(result);
    const size = std.math.cast(usize, result) orelse return error.OutOfMemory;
    const buffer = try allocator.alloc(u8, size);
    errdefer allocator.free(buffer);
    const copied = abi.result_read(abi.address(buffer), abi.length(buffer));
    if (copied < 0) return errorFromCode(copied);
    if (copied != result) return error.Internal;
    return buffer;
}

// ---- the request ----------------------------------------------------------------------------

/// Header and query values: each name maps to its values, in the order they arrived.
pub const Values = std.json.ArrayHashMap([]const []const u8);

/// The request, decoded from the JSON on stdin (docs/contract.md). Missing text fields are "".
pub const Request = struct {
    method: []const u8 = "",
    /// The request target: path and query, as sent.
    uri: []const u8 = "",
    /// The decoded path.
    path: []const u8 = "",
    query: Values = .{},
    /// Names in canonical form: Content-Type.
    headers: Values = .{},
    /// The body's bytes, decoded when it travelled as base64.
    body: []const u8 = "",
    remote_addr: []const u8 = "",
    trace_id: []const u8 = "",
    /// The tenant the request acts for ("" when not sent).
    tenant: []const u8 = "",

    /// The first value of header `name`, compared without regard to ASCII case.
    pub fn header(self: Request, name: []const u8) ?[]const u8 {
        const values = self.headerValues(name);
        return if (values.len > 0) values[0] else null;
    }

    /// Every value of header `name`, compared without regard to ASCII case.
    pub fn headerValues(self: Request, name: []const u8) []const []const u8 {
        for (self.headers.map.keys(), self.headers.map.values()) |key, values| {
            if (std.ascii.eqlIgnoreCase(key, name)) return values;
        }
        return &.{};
    }

    /// The first value of query parameter `name`, compared exactly.
    pub fn queryParam(self: Request, name: []const u8) ?[]const u8 {
        const values = self.query.map.get(name) orelse return null;
        return if (values.len > 0) values[0] else null;
    }
};

/// The request as the host writes it.
const Envelope = struct {
    method: []const u8 = "",
    uri: []const u8 = "",
    path: []const u8 = "",
    query: Values = .{},
    headers: Values = .{},
    body: []const u8 = "",
    body_encoding: ?[]const u8 = null,
    remote_addr: []const u8 = "",
    trace_id: []const u8 = "",
    tenant: []const u8 = "",
};

pub const ReadError = error{
    /// Stdin is not a well-formed request object, or its base64 body does not decode.
    InvalidRequest,
    ReadFailed,
} || Allocator.Error;

/// Read and decode the whole request from stdin. Allocates with `allocator` and does not free
/// it: give it an arena (such as `init.arena`).
pub fn readRequest(io: Io, allocator: Allocator) ReadError!Request {
    var buffer: [4096]u8 = undefined;
    var stdin: Io.File.Reader = .init(.stdin(), io, &buffer);
    const input = stdin.interface.allocRemaining(allocator, .unlimited) catch |err| switch (err) {
        error.OutOfMemory => return error.OutOfMemory,
        else => return error.ReadFailed,
    };
    return parseRequest(allocator, input);
}

/// Decode a request from its JSON text (what `readRequest` does after reading stdin).
pub fn parseRequest(allocator: Allocator, input: []const u8) ReadError!Request {
    const options: std.json.ParseOptions = .{ .ignore_unknown_fields = true };
    const envelope = std.json.parseFromSliceLeaky(Envelope, allocator, input, options) catch |err|
        switch (err) {
            error.OutOfMemory => return error.OutOfMemory,
            else => return error.InvalidRequest,
        };
    var body = envelope.body;
    if (envelope.body_encoding) |encoding| {
        if (std.mem.eql(u8, encoding, "base64")) {
            const decoder = std.base64.standard.Decoder;
            const size = decoder.calcSizeForSlice(body) catch return error.InvalidRequest;
            const bytes = try allocator.alloc(u8, size);
            decoder.decode(bytes, body) catch return error.InvalidRequest;
            body = bytes;
        } else if (encoding.len != 0) {
            return error.InvalidRequest; // an encoding this SDK does not know
        }
    }
    return .{
        .method = envelope.method,
        .uri = envelope.uri,
        .path = envelope.path,
        .query = envelope.query,
        .headers = envelope.headers,
        .body = body,
        .remote_addr = envelope.remote_addr,
        .trace_id = envelope.trace_id,
        .tenant = envelope.tenant,
    };
}

// ---- the response ---------------------------------------------------------------------------

pub const Header = struct {
    name: []const u8,
    value: []const u8,
};

pub const RespondError = error{
    /// A header name or value is not UTF-8.
    InvalidHeader,
    WriteFailed,
};

/// Write the response to stdout: {"status", "headers", "body"}. Headers of the same name (any
/// case) become one list of values. A body that is not valid UTF-8 is sent base64-encoded with
/// "body_encoding":"base64", so any bytes arrive intact. Call it once: the response is one
/// JSON object.
pub fn respond(io: Io, status: u16, headers: []const Header, body: []const u8) RespondError!void {
    var buffer: [4096]u8 = undefined;
    var stdout: Io.File.Writer = .init(.stdout(), io, &buffer);
    try writeResponse(&stdout.interface, status, headers, body);
    try stdout.interface.flush();
}

/// Write the response JSON to `writer` (what `respond` sends to stdout).
pub fn writeResponse(
    writer: *Io.Writer,
    status: u16,
    headers: []const Header,
    body: []const u8,
) RespondError!void {
    for (headers) |item| {
        if (!std.unicode.utf8ValidateSlice(item.name) or !std.unicode.utf8ValidateSlice(item.value))
            return error.InvalidHeader;
    }
    var json: std.json.Stringify = .{ .writer = writer };
    try json.beginObject();
    try json.objectField("status");
    try json.write(status);
    try json.objectField("headers");
    try json.beginObject();
    for (headers, 0..) |item, index| {
        if (indexOfName(headers[0..index], item.name) != null) continue; // listed already
        try json.objectField(item.name);
        try json.beginArray();
        for (headers[index..]) |other| {
            if (std.ascii.eqlIgnoreCase(other.name, item.name)) try json.write(other.value);
        }
        try json.endArray();
    }
    try json.endObject();
    try json.objectField("body");
    if (std.unicode.utf8ValidateSlice(body)) {
        try json.write(body);
    } else {
        try json.beginWriteRaw();
        try writer.writeByte('"');
        try std.base64.standard.Encoder.encodeWriter(writer, body);
        try writer.writeByte('"');
        json.endWriteRaw();
        try json.objectField("body_encoding");
        try json.write("base64");
    }
    try json.endObject();
    try writer.writeByte('\n');
}

fn indexOfName(headers: []const Header, name: []const u8) ?usize {
    for (headers, 0..) |item, index| {
        if (std.ascii.eqlIgnoreCase(item.name, name)) return index;
    }
    return null;
}
