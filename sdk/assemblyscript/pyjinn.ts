// The AssemblyScript SDK for pyjinn functions (host ABI version 1). docs/abi.md describes the
// ABI this file binds; docs/languages.md shows a whole function.
//
//     import { serve, Request, Response, kvGet } from "../../sdk/assemblyscript/pyjinn";
//
//     serve((request: Request): Response => {
//       const name = request.queryParam("name");
//       return Response.text("Hello, " + (name !== null ? name : "world") + "!");
//     });
//
// Build it with AssemblyScript 0.28 and @assemblyscript/wasi-shim (`pyjinn build` installs
// both with npm), which supplies WASI's abort, clock and randomness:
//
//     npx asc main.ts --config node_modules/@assemblyscript/wasi-shim/asconfig.json \
//         -O3z --noAssert -o main.wasm
//
// Host calls return a Status (OK or a negative ABI error code); calls that yield data return
// a Result holding the status and the bytes, read into a buffer of exactly their size.

// ---- the raw ABI: import module "pyjinn", with the wasm types of pyjinn/abi.py -------------

@external("pyjinn", "log")
export declare function abi_log(level: i32, message: i32, message_length: i32): void;
@external("pyjinn", "result_read")
export declare function abi_result_read(buffer: i32, capacity: i32): i32;
@external("pyjinn", "error_read")
export declare function abi_error_read(buffer: i32, capacity: i32): i32;
@external("pyjinn", "kv_get")
export declare function abi_kv_get(key: i32, key_length: i32): i64;
@external("pyjinn", "kv_set")
export declare function abi_kv_set(key: i32, key_length: i32, value: i32, value_length: i32): i32;
@external("pyjinn", "kv_delete")
export declare function abi_kv_delete(key: i32, key_length: i32): i32;
@external("pyjinn", "kv_list")
export declare function abi_kv_list(prefix: i32, prefix_length: i32): i64;
@external("pyjinn", "db_query")
export declare function abi_db_query(sql: i32, sql_length: i32, params: i32, params_length: i32): i64;
@external("pyjinn", "db_exec")
export declare function abi_db_exec(sql: i32, sql_length: i32, params: i32, params_length: i32): i64;
@external("pyjinn", "blob_put")
export declare function abi_blob_put(key: i32, key_length: i32, data: i32, data_length: i32): i32;
@external("pyjinn", "blob_get")
export declare function abi_blob_get(key: i32, key_length: i32): i64;
@external("pyjinn", "blob_delete")
export declare function abi_blob_delete(key: i32, key_length: i32): i32;
@external("pyjinn", "blob_list")
export declare function abi_blob_list(prefix: i32, prefix_length: i32): i64;
@external("pyjinn", "job_enqueue")
export declare function abi_job_enqueue(
  fn: i32, fn_length: i32, payload: i32, payload_length: i32, key: i32, key_length: i32,
): i64;
@external("pyjinn", "ai_chat")
export declare function abi_ai_chat(request: i32, request_length: i32): i64;
@external("pyjinn", "ai_embed")
export declare function abi_ai_embed(texts: i32, texts_length: i32): i64;
@external("pyjinn", "http_request")
export declare function abi_http_request(
  method: i32, method_length: i32, url: i32, url_length: i32, headers: i32, headers_length: i32,
  body: i32, body_length: i32,
): i64;
@external("pyjinn", "lock_acquire")
export declare function abi_lock_acquire(
  name: i32, name_length: i32, ttl_seconds: i32, wait_ms: i32,
): i64;
@external("pyjinn", "lock_release")
export declare function abi_lock_release(
  name: i32, name_length: i32, token: i32, token_length: i32,
): i32;
@external("pyjinn", "ws_upgrade")
export declare function abi_ws_upgrade(): i32;
@external("pyjinn", "ws_read")
export declare function abi_ws_read(wait_ms: i32): i64;
@external("pyjinn", "ws_write")
export declare function abi_ws_write(opcode: i32, data: i32, data_length: i32): i32;
@external("pyjinn", "ws_close")
export declare function abi_ws_close(code: i32, reason: i32, reason_length: i32): i32;

@external("wasi_snapshot_preview1", "fd_read")
declare function wasi_fd_read(fd: i32, iovs: i32, iovs_length: i32, read: i32): i32;
@external("wasi_snapshot_preview1", "fd_write")
declare function wasi_fd_write(fd: i32, iovs: i32, iovs_length: i32, written: i32): i32;

export const ABI_VERSION = 1;

/** The address of a buffer's bytes, as the host reads it. */
export function address(buffer: ArrayBuffer): i32 {
  return <i32>changetype<usize>(buffer);
}

// ---- statuses ------------------------------------------------------------------------------

/** OK, the host's error codes (pyjinn.abi.ErrorCode), and the SDK's own two. */
export enum Status {
  OK = 0,
  NOT_FOUND = -1,
  DENIED = -2,
  INVALID = -3,
  UNAVAILABLE = -4,
  LIMIT = -5,
  INTERNAL = -6,
  /** The tenant's budget for the call is spent for now (ai_tokens_per_minute). */
  BUDGET = -7,
  /** The service behind the call refused for its own rate limit. */
  RATE_LIMITED = -8,
  /** The call ran out of time (an outbound request). */
  TIMEOUT = -9,
  /** An allowed host resolved to an address outbound calls may not reach. */
  ADDRESS_REFUSED = -10,
  /** The lock is held by another holder. */
  BUSY = -11,
  /** The WebSocket connection is closed (its close was read). */
  CLOSED = -12,
  /** The request on stdin is not a request object. */
  BAD_REQUEST = -100,
  /** Reading stdin or writing stdout failed. */
  IO = -101,
}

/** The status's name ("NOT_FOUND"), or "UNKNOWN". */
export function statusName(status: i32): string {
  switch (status) {
    case Status.OK: return "OK";
    case Status.NOT_FOUND: return "NOT_FOUND";
    case Status.DENIED: return "DENIED";
    case Status.INVALID: return "INVALID";
    case Status.UNAVAILABLE: return "UNAVAILABLE";
    case Status.LIMIT: return "LIMIT";
    case Status.INTERNAL: return "INTERNAL";
    case Status.BUDGET: return "BUDGET";
    case Status.RATE_LIMITED: return "RATE_LIMITED";
    case Status.TIMEOUT: return "TIMEOUT";
    case Status.ADDRESS_REFUSED: return "ADDRESS_REFUSED";
    case Status.BUSY: return "BUSY";
    case Status.CLOSED: return "CLOSED";
    case Status.BAD_REQUEST: return "BAD_REQUEST";
    case Status.IO: return "IO";
  }
  return "UNKNOWN";
}

/** What a data call gave: its status and, when OK, its bytes. */
export class Result {
  constructor(public status: i32, public data: ArrayBuffer) {}

  get ok(): bool {
    return this.status == Status.OK;
  }

  /** The bytes as UTF-8 text. */
  text(): string {
    return String.UTF8.decode(this.data);
  }
}

/** The message of the last failed host call ("" when none failed). */
export function lastError(): string {
  const size = abi_error_read(0, 0); // capacity 0 asks for the length
  if (size <= 0) return "";
  const message = new ArrayBuffer(size);
  const copied = abi_error_read(address(message), size);
  return String.UTF8.decode(message.slice(0, copied > 0 ? copied : 0));
}

function readResult(length: i64): Result {
  if (length < 0) return new Result(<i32>length, new ArrayBuffer(0));
  const data = new ArrayBuffer(<i32>length);
  const copied = abi_result_read(address(data), <i32>length);
  if (copied < 0) return new Result(copied, new ArrayBuffer(0));
  return new Result(Status.OK, data);
}

function utf8(text: string): ArrayBuffer {
  return String.UTF8.encode(text);
}

// ---- logging -------------------------------------------------------------------------------

export enum Level {
  DEBUG = 0,
  INFO = 1,
  WARN = 2,
  ERROR = 3,
}

/** Write a record to the function's log (the host keeps the first 4096 bytes). */
export function log(level: i32, message: string): void {
  logBytes(level, utf8(message));
}

export function logBytes(level: i32, message: ArrayBuffer): void {
  abi_log(level, address(message), message.byteLength);
}

// ---- key-value -----------------------------------------------------------------------------

/** A key's value; NOT_FOUND when it has none. */
export function kvGet(key: string): Result {
  const k = utf8(key);
  return readResult(abi_kv_get(address(k), k.byteLength));
}

export function kvSet(key: string, value: ArrayBuffer): i32 {
  const k = utf8(key);
  return abi_kv_set(address(k), k.byteLength, address(value), value.byteLength);
}

export function kvSetText(key: string, value: string): i32 {
  return kvSet(key, utf8(value));
}

/** Delete a key; deleting a missing key is OK. */
export function kvDelete(key: string): i32 {
  const k = utf8(key);
  return abi_kv_delete(address(k), k.byteLength);
}

/** The readable keys under a prefix. */
export class Keys {
  constructor(public status: i32, public keys: string[]) {}
}

export function kvList(prefix: string): Keys {
  const p = utf8(prefix);
  const result = readResult(abi_kv_list(address(p), p.byteLength));
  const keys = new Array<string>(0);
  if (!result.ok) return new Keys(result.status, keys);
  const parsed = parseJSON(result.text());
  if (parsed === null || parsed.kind != JSONKind.ARRAY) return new Keys(Status.INTERNAL, keys);
  for (let i = 0; i < parsed.items.length; i++) keys.push(parsed.items[i].text);
  return new Keys(Status.OK, keys);
}

// ---- SQL -----------------------------------------------------------------------------------

/** Run one statement with `params`, a JSON array bound by the engine ("" for none):
 * {"columns":[...],"rows":[[...],...]} as JSON text. */
export function dbQuery(sql: string, params: string = ""): Result {
  const s = utf8(sql);
  const p = utf8(params);
  return readResult(abi_db_query(address(s), s.byteLength, address(p), p.byteLength));
}

/** Run one statement that changes data: {"rows_affected":N,"last_insert_id":N|null}. */
export function dbExec(sql: string, params: string = ""): Result {
  const s = utf8(sql);
  const p = utf8(params);
  return readResult(abi_db_exec(address(s), s.byteLength, address(p), p.byteLength));
}

// ---- object storage ------------------------------------------------------------------------

export function blobPut(key: string, data: ArrayBuffer): i32 {
  const k = utf8(key);
  return abi_blob_put(address(k), k.byteLength, address(data), data.byteLength);
}

export function blobGet(key: string): Result {
  const k = utf8(key);
  return readResult(abi_blob_get(address(k), k.byteLength));
}

export function blobDelete(key: string): i32 {
  const k = utf8(key);
  return abi_blob_delete(address(k), k.byteLength);
}

/** The readable objects under a prefix: a JSON array of {"key","size"}. */
export function blobList(prefix: string): Result {
  const p = utf8(prefix);
  return readResult(abi_blob_list(address(p), p.byteLength));
}

// ---- jobs and the model ----------------------------------------------------------------------

/** Enqueue a job of `fn` (granted by jobs_enqueue) for this request's tenant, with `payload`
 * as its request body; an empty `idempotencyKey` means none. When OK, the result's text is the
 * job's id. */
export function jobEnqueue(fn: string, payload: ArrayBuffer, idempotencyKey: string = ""): Result {
  const f = utf8(fn), k = utf8(idempotencyKey);
  return readResult(
    abi_job_enqueue(address(f), f.byteLength, address(payload), payload.byteLength, address(k),
                    k.byteLength),
  );
}

/** Ask the model (permissions { ai }): `request` is an OpenAI-style chat request as JSON,
 * without the model. When OK, the result is the answer's JSON. */
export function aiChat(request: string): Result {
  const r = utf8(request);
  return readResult(abi_ai_chat(address(r), r.byteLength));
}

/** Embed a JSON string or array of strings with the local model; the result is JSON. */
export function aiEmbed(texts: string): Result {
  const t = utf8(texts);
  return readResult(abi_ai_embed(address(t), t.byteLength));
}

// ---- outbound HTTP and locks ----------------------------------------------------------------

/** An outbound request's outcome: `status` is OK or the refusal; when OK, `httpStatus`, the
 * headers as JSON text ({"name":["value",...]}, lower-case names) and the body. */
export class HttpResponse {
  constructor(
    public status: i32,
    public httpStatus: i32,
    public headers: string,
    public body: ArrayBuffer,
  ) {}

  get ok(): bool {
    return this.status == Status.OK;
  }
}

/** Send an HTTP request (permissions { http }; only to the hosts allow_host lists). `headers`
 * is a JSON object of names to a string or an array of strings ("" for none). Any HTTP status
 * is an answer; the refusals: DENIED (a host or a redirect's target not listed),
 * ADDRESS_REFUSED, LIMIT (over 8 MiB, more than 5 redirects), TIMEOUT, UNAVAILABLE, INVALID. */
export function httpRequest(
  method: string, url: string, headers: string = "", body: ArrayBuffer = new ArrayBuffer(0),
): HttpResponse {
  const m = utf8(method), u = utf8(url), h = utf8(headers);
  const result = readResult(
    abi_http_request(address(m), m.byteLength, address(u), u.byteLength, address(h),
                     h.byteLength, address(body), body.byteLength),
  );
  const none = new ArrayBuffer(0);
  if (!result.ok) return new HttpResponse(result.status, 0, "", none);
  // A JSON line {"status":N,"headers":{...}}, a newline, then the body (docs/abi.md).
  const bytes = Uint8Array.wrap(result.data);
  const newline = bytes.indexOf(10);
  const head = newline < 0 ? "" : String.UTF8.decode(result.data.slice(0, newline));
  const statusKey = '{"status":', headersKey = ',"headers":';
  const comma = head.indexOf(headersKey);
  if (!head.startsWith(statusKey) || !head.endsWith("}") || comma < 0) {
    return new HttpResponse(Status.INTERNAL, 0, "", none);
  }
  return new HttpResponse(
    Status.OK,
    I32.parseInt(head.substring(statusKey.length, comma)),
    head.substring(comma + headersKey.length, head.length - 1),
    result.data.slice(newline + 1),
  );
}

/** Take this tenant's lock `name` (permissions { lock NAMESPACE }) for at most `ttlSeconds`
 * (1 to 86400), waiting up to `waitMs` for its holder to let go. When OK, the result's text is
 * the token that releases it; BUSY when another holds it. Locks still held when the invocation
 * ends are released then. */
export function lockAcquire(name: string, ttlSeconds: i32, waitMs: i32 = 0): Result {
  const n = utf8(name);
  return readResult(abi_lock_acquire(address(n), n.byteLength, ttlSeconds, waitMs));
}

/** Release a lock with its token: DENIED when another holds it, NOT_FOUND when nobody does. */
export function lockRelease(name: string, token: string): i32 {
  const n = utf8(name), t = utf8(token);
  return abi_lock_release(address(n), n.byteLength, address(t), t.byteLength);
}

// ---- WebSocket connections -----------------------------------------------------------------

/** A message's type, as WebSocket numbers it. */
export enum WsOpcode {
  TEXT = 1,
  BINARY = 2,
  /** The end of the connection: closeCode, and the reason in data. */
  CLOSE = 8,
}

/** What wsRead gave: its status and, when OK, the message. */
export class WsMessage {
  constructor(
    public status: i32,
    public opcode: i32,
    /** The payload, or a close's reason. */
    public data: ArrayBuffer,
    /** A close's code (1000 normal, 1001 idle timeout or max_duration, ...); 0 otherwise. */
    public closeCode: i32,
  ) {}

  get ok(): bool {
    return this.status == Status.OK;
  }

  /** The payload as UTF-8 text. */
  text(): string {
    return String.UTF8.decode(this.data);
  }
}

/** Take over the WebSocket connection of the request being served (permissions { websocket }):
 * the function holds it until it returns; its timeout is then the idle time allowed between
 * messages. INVALID when the request is not a WebSocket upgrade, CLOSED when the client left. */
export function wsUpgrade(): i32 {
  return abi_ws_upgrade();
}

/** Wait up to `waitMs` milliseconds (negative: until the idle timeout) for the next message;
 * NOT_FOUND when none came in time. The end of the connection comes once, as a message with
 * opcode CLOSE; after it, CLOSED. */
export function wsRead(waitMs: i32 = -1): WsMessage {
  const result = readResult(abi_ws_read(waitMs));
  if (!result.ok) return new WsMessage(result.status, 0, new ArrayBuffer(0), 0);
  const block = Uint8Array.wrap(result.data);
  if (block.length == 0) return new WsMessage(Status.INTERNAL, 0, new ArrayBuffer(0), 0);
  const opcode = <i32>block[0];
  if (opcode == WsOpcode.CLOSE && block.length >= 3) {
    const code = (<i32>block[1] << 8) | <i32>block[2];
    return new WsMessage(Status.OK, opcode, result.data.slice(3), code);
  }
  return new WsMessage(Status.OK, opcode, result.data.slice(1), 0);
}

/** Send a message (TEXT or BINARY). Waits while the client is behind; LIMIT for a message over
 * max_message, or a client that read nothing until the idle timeout was near (the connection
 * is then closed); CLOSED once it is closed. */
export function wsWrite(opcode: i32, data: ArrayBuffer): i32 {
  return abi_ws_write(opcode, address(data), data.byteLength);
}

export function wsWriteText(text: string): i32 {
  return wsWrite(WsOpcode.TEXT, utf8(text));
}

/** Close the connection with `code` (1000, or 3000 to 4999) and a reason of at most 123 bytes,
 * after the messages written before. */
export function wsClose(code: i32 = 1000, reason: string = ""): i32 {
  const r = utf8(reason);
  return abi_ws_close(code, address(r), r.byteLength);
}

// ---- JSON ----------------------------------------------------------------------------------

export enum JSONKind {
  NULL,
  BOOL,
  NUMBER,
  STRING,
  ARRAY,
  OBJECT,
}

/** A parsed JSON value: `text` for strings, `number`, `bool`, `items` for arrays, and `keys`
 * with `values` (in document order) for objects. */
export class JSONValue {
  kind: JSONKind = JSONKind.NULL;
  bool: bool = false;
  number: f64 = 0;
  text: string = "";
  items: JSONValue[] = [];
  keys: string[] = [];
  values: JSONValue[] = [];

  /** The member named `key` of an object, or null. */
  get(key: string): JSONValue | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] == key) return this.values[i];
    }
    return null;
  }

  /** The member's text, or `otherwise` when it is missing or not a string. */
  getString(key: string, otherwise: string = ""): string {
    const value = this.get(key);
    return value !== null && value.kind == JSONKind.STRING ? value.text : otherwise;
  }
}

class Parser {
  position: i32 = 0;
  failed: bool = false;
  constructor(public text: string) {}

  skipSpace(): void {
    while (this.position < this.text.length) {
      const c = this.text.charCodeAt(this.position);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.position++;
    }
  }

  fail(): JSONValue {
    this.failed = true;
    return new JSONValue();
  }

  value(): JSONValue {
    this.skipSpace();
    if (this.position >= this.text.length) return this.fail();
    const c = this.text.charCodeAt(this.position);
    const value = new JSONValue();
    if (c == 0x22) {
      value.kind = JSONKind.STRING;
      value.text = this.string();
    } else if (c == 0x7b) {
      value.kind = JSONKind.OBJECT;
      this.position++;
      this.skipSpace();
      if (this.peek() == 0x7d) { this.position++; return value; }
      while (!this.failed) {
        this.skipSpace();
        if (this.peek() != 0x22) return this.fail();
        value.keys.push(this.string());
        this.skipSpace();
        if (this.peek() != 0x3a) return this.fail();
        this.position++;
        value.values.push(this.value());
        this.skipSpace();
        const next = this.peek();
        this.position++;
        if (next == 0x7d) break;
        if (next != 0x2c) return this.fail();
      }
    } else if (c == 0x5b) {
      value.kind = JSONKind.ARRAY;
      this.position++;
      this.skipSpace();
      if (this.peek() == 0x5d) { this.position++; return value; }
      while (!this.failed) {
        value.items.push(this.value());
        this.skipSpace();
        const next = this.peek();
        this.position++;
        if (next == 0x5d) break;
        if (next != 0x2c) return this.fail();
      }
    } else if (this.text.startsWith("true", this.position)) {
      value.kind = JSONKind.BOOL;
      value.bool = true;
      this.position += 4;
    } else if (this.text.startsWith("false", this.position)) {
      value.kind = JSONKind.BOOL;
      this.position += 5;
    } else if (this.text.startsWith("null", this.position)) {
      this.position += 4;
    } else {
      const start = this.position;
      while (this.position < this.text.length) {
        const d = this.text.charCodeAt(this.position);
        if (!((d >= 0x30 && d <= 0x39) || d == 0x2d || d == 0x2b || d == 0x2e || d == 0x65 || d == 0x45)) break;
        this.position++;
      }
      if (this.position == start) return this.fail();
      value.kind = JSONKind.NUMBER;
      value.number = parseFloat(this.text.substring(start, this.position));
    }
    return value;
  }

  peek(): i32 {
    return this.position < this.text.length ? this.text.charCodeAt(this.position) : -1;
  }

  string(): string {
    this.position++; // the opening quote
    const parts = new Array<string>(0);
    let start = this.position;
    while (this.position < this.text.length) {
      const c = this.text.charCodeAt(this.position);
      if (c == 0x22) {
        parts.push(this.text.substring(start, this.position));
        this.position++;
        return parts.join("");
      }
      if (c == 0x5c) {
        parts.push(this.text.substring(start, this.position));
        this.position++;
        const e = this.peek();
        this.position++;
        if (e == 0x22) parts.push("\"");
        else if (e == 0x5c) parts.push("\\");
        else if (e == 0x2f) parts.push("/");
        else if (e == 0x62) parts.push("\b");
        else if (e == 0x66) parts.push("\f");
        else if (e == 0x6e) parts.push("\n");
        else if (e == 0x72) parts.push("\r");
        else if (e == 0x74) parts.push("\t");
        else if (e == 0x75 && this.position + 4 <= this.text.length) {
          const unit = I32.parseInt(this.text.substring(this.position, this.position + 4), 16);
          parts.push(String.fromCharCode(unit));
          this.position += 4;
        } else {
          this.failed = true;
          return "";
        }
        start = this.position;
        continue;
      }
      this.position++;
    }
    this.failed = true;
    return "";
  }
}

/** The JSON value in `text`, or null when it is not JSON. */
export function parseJSON(text: string): JSONValue | null {
  const parser = new Parser(text);
  const value = parser.value();
  parser.skipSpace();
  if (parser.failed || parser.position != text.length) return null;
  return value;
}

/** `text` as a quoted JSON string. */
export function jsonString(text: string): string {
  const parts = new Array<string>(0);
  parts.push("\"");
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    parts.push(text.substring(start, i));
    if (c == 0x22) parts.push("\\\"");
    else if (c == 0x5c) parts.push("\\\\");
    else if (c == 0x0a) parts.push("\\n");
    else if (c == 0x0d) parts.push("\\r");
    else if (c == 0x09) parts.push("\\t");
    else parts.push("\\u00" + (c < 0x10 ? "0" : "") + c.toString(16));
    start = i + 1;
  }
  parts.push(text.substring(start));
  parts.push("\"");
  return parts.join("");
}

/** Whether `text` can be written as UTF-8 (no unpaired surrogates). */
export function isWellFormed(text: string): bool {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

// ---- base64 and UTF-8 ----------------------------------------------------------------------

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function base64Encode(data: ArrayBuffer): string {
  const bytes = Uint8Array.wrap(data);
  const out = new Uint8Array(((bytes.length + 2) / 3) * 4);
  let at = 0;
  for (let i = 0; i < bytes.length; i += 3) {
    const left = bytes.length - i;
    let group = <u32>bytes[i] << 16;
    if (left > 1) group |= <u32>bytes[i + 1] << 8;
    if (left > 2) group |= <u32>bytes[i + 2];
    out[at++] = <u8>ALPHABET.charCodeAt((group >> 18) & 63);
    out[at++] = <u8>ALPHABET.charCodeAt((group >> 12) & 63);
    out[at++] = left > 1 ? <u8>ALPHABET.charCodeAt((group >> 6) & 63) : 0x3d;
    out[at++] = left > 2 ? <u8>ALPHABET.charCodeAt(group & 63) : 0x3d;
  }
  return String.UTF8.decode(out.buffer);
}

function base64Digit(c: i32): i32 {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c == 0x2b) return 62;
  if (c == 0x2f) return 63;
  return -1;
}

/** The bytes of base64 `text`, or null when it is not base64. */
export function base64Decode(text: string): ArrayBuffer | null {
  if (text.length % 4 != 0) return null;
  let padding = 0;
  if (text.endsWith("==")) padding = 2;
  else if (text.endsWith("=")) padding = 1;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    let group: u32 = 0;
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      const digit = c == 0x3d && i + j >= text.length - padding ? 0 : base64Digit(c);
      if (digit < 0) return null;
      group = (group << 6) | <u32>digit;
    }
    if (at < out.length) out[at++] = <u8>(group >> 16);
    if (at < out.length) out[at++] = <u8>((group >> 8) & 0xff);
    if (at < out.length) out[at++] = <u8>(group & 0xff);
  }
  return out.buffer;
}

/** Whether `data` is valid UTF-8. */
export function isUtf8(data: ArrayBuffer): bool {
  const bytes = Uint8Array.wrap(data);
  let i = 0;
  while (i < bytes.length) {
    const b = <u32>bytes[i];
    let extra = 0;
    let minimum: u32 = 0;
    let code: u32 = 0;
    if (b < 0x80) { i++; continue; }
    else if ((b & 0xe0) == 0xc0) { extra = 1; minimum = 0x80; code = b & 0x1f; }
    else if ((b & 0xf0) == 0xe0) { extra = 2; minimum = 0x800; code = b & 0x0f; }
    else if ((b & 0xf8) == 0xf0) { extra = 3; minimum = 0x10000; code = b & 0x07; }
    else return false;
    if (i + extra >= bytes.length) return false;
    for (let j = 1; j <= extra; j++) {
      const next = <u32>bytes[i + j];
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

// ---- stdin and stdout ----------------------------------------------------------------------

const scratch = memory.data(16); // one iovec and a count

/** All of stdin; null when it cannot be read. */
export function readAll(): ArrayBuffer | null {
  let buffer = new ArrayBuffer(65536);
  let length = 0;
  while (true) {
    if (length == buffer.byteLength) {
      const bigger = new ArrayBuffer(buffer.byteLength * 2);
      memory.copy(changetype<usize>(bigger), changetype<usize>(buffer), length);
      buffer = bigger;
    }
    store<u32>(scratch, <u32>(changetype<usize>(buffer) + length));
    store<u32>(scratch, <u32>(buffer.byteLength - length), 4);
    if (wasi_fd_read(0, <i32>scratch, 1, <i32>scratch + 8) != 0) return null;
    const count = load<u32>(scratch, 8);
    if (count == 0) break;
    length += count;
  }
  return buffer.slice(0, length);
}

/** Write all of `data` to stdout (one iovec at a time, looping on short writes). */
export function writeAll(data: ArrayBuffer): i32 {
  let at: i32 = 0;
  while (at < data.byteLength) {
    store<u32>(scratch, <u32>(changetype<usize>(data) + at));
    store<u32>(scratch, <u32>(data.byteLength - at), 4);
    if (wasi_fd_write(1, <i32>scratch, 1, <i32>scratch + 8) != 0) return Status.IO;
    const count = load<u32>(scratch, 8);
    if (count == 0) return Status.IO;
    at += count;
  }
  return Status.OK;
}

// ---- the request ---------------------------------------------------------------------------

/** One header or query parameter value; a name with several values has one per value. */
export class Field {
  constructor(public name: string, public value: string) {}
}

/** The request, decoded from the JSON on stdin (docs/contract.md). */
export class Request {
  method: string = "";
  uri: string = "";
  path: string = "";
  remoteAddr: string = "";
  traceId: string = "";
  tenant: string = "";
  /** The body's bytes (decoded when it travelled as base64). */
  body: ArrayBuffer = new ArrayBuffer(0);
  headers: Field[] = [];
  query: Field[] = [];

  /** The first value of header `name`, compared without regard to ASCII case, or null. */
  header(name: string): string | null {
    const wanted = name.toLowerCase();
    for (let i = 0; i < this.headers.length; i++) {
      if (this.headers[i].name.toLowerCase() == wanted) return this.headers[i].value;
    }
    return null;
  }

  /** Every value of header `name`, in order. */
  headerValues(name: string): string[] {
    const wanted = name.toLowerCase();
    const values = new Array<string>(0);
    for (let i = 0; i < this.headers.length; i++) {
      if (this.headers[i].name.toLowerCase() == wanted) values.push(this.headers[i].value);
    }
    return values;
  }

  /** The first value of query parameter `name` (compared exactly), or null. */
  queryParam(name: string): string | null {
    for (let i = 0; i < this.query.length; i++) {
      if (this.query[i].name == name) return this.query[i].value;
    }
    return null;
  }

  /** The body as UTF-8 text. */
  text(): string {
    return String.UTF8.decode(this.body);
  }
}

function fields(value: JSONValue | null): Field[] {
  const out = new Array<Field>(0);
  if (value === null || value.kind != JSONKind.OBJECT) return out;
  for (let i = 0; i < value.keys.length; i++) {
    const values = value.values[i];
    if (values.kind == JSONKind.STRING) {
      out.push(new Field(value.keys[i], values.text));
    } else {
      for (let j = 0; j < values.items.length; j++) out.push(new Field(value.keys[i], values.items[j].text));
    }
  }
  return out;
}

/** The request parsed from JSON text; null when it is not a request object. */
export function parseRequest(text: string): Request | null {
  const envelope = parseJSON(text);
  if (envelope === null || envelope.kind != JSONKind.OBJECT) return null;
  const request = new Request();
  request.method = envelope.getString("method");
  request.uri = envelope.getString("uri");
  request.path = envelope.getString("path");
  request.remoteAddr = envelope.getString("remote_addr");
  request.traceId = envelope.getString("trace_id");
  request.tenant = envelope.getString("tenant");
  request.headers = fields(envelope.get("headers"));
  request.query = fields(envelope.get("query"));
  const body = envelope.getString("body");
  if (envelope.getString("body_encoding") == "base64") {
    const decoded = base64Decode(body);
    if (decoded === null) return null;
    request.body = decoded;
  } else {
    request.body = utf8(body);
  }
  return request;
}

/** Read and decode the request on stdin; null when stdin cannot be read or is not one. */
export function readRequest(): Request | null {
  const input = readAll();
  if (input === null) return null;
  return parseRequest(String.UTF8.decode(input));
}

// ---- the response --------------------------------------------------------------------------

export class Header {
  constructor(public name: string, public value: string) {}
}

/** The response as the JSON text pyjinn reads, or null for a header that is not UTF-8.
 * Headers of the same name (any case) become one list; a body that is not UTF-8 is sent
 * base64-encoded. */
export function encodeResponse(status: i32, headers: Header[], body: ArrayBuffer): string | null {
  let out = "{\"status\":" + status.toString() + ",\"headers\":{";
  const done = new Array<bool>(headers.length);
  let first = true;
  for (let i = 0; i < headers.length; i++) {
    if (done[i]) continue;
    const name = headers[i].name;
    if (!isWellFormed(name)) return null;
    const lower = name.toLowerCase();
    out += (first ? "" : ",") + jsonString(name) + ":[";
    first = false;
    let firstValue = true;
    for (let j = i; j < headers.length; j++) {
      if (done[j] || headers[j].name.toLowerCase() != lower) continue;
      if (!isWellFormed(headers[j].value)) return null;
      out += (firstValue ? "" : ",") + jsonString(headers[j].value);
      firstValue = false;
      done[j] = true;
    }
    out += "]";
  }
  out += "},\"body\":";
  if (isUtf8(body)) {
    out += jsonString(String.UTF8.decode(body)) + "}";
  } else {
    out += jsonString(base64Encode(body)) + ",\"body_encoding\":\"base64\"}";
  }
  return out;
}

/** Write the response to stdout. OK; INVALID for a header that is not UTF-8; IO. */
export function respond(status: i32, headers: Header[], body: ArrayBuffer): i32 {
  const text = encodeResponse(status, headers, body);
  if (text === null) return Status.INVALID;
  return writeAll(utf8(text));
}

/** respond() with one Content-Type header and a text body. */
export function respondText(status: i32, contentType: string, text: string): i32 {
  return respond(status, [new Header("Content-Type", contentType)], utf8(text));
}

/** What a handler given to serve() answers. */
export class Response {
  headers: Header[] = [];
  constructor(public status: i32 = 200, public body: ArrayBuffer = new ArrayBuffer(0)) {}

  static text(text: string, status: i32 = 200, contentType: string = "text/plain; charset=utf-8"): Response {
    return new Response(status, utf8(text)).header("Content-Type", contentType);
  }

  static json(json: string, status: i32 = 200): Response {
    return new Response(status, utf8(json)).header("Content-Type", "application/json");
  }

  static bytes(data: ArrayBuffer, status: i32 = 200, contentType: string = "application/octet-stream"): Response {
    return new Response(status, data).header("Content-Type", contentType);
  }

  /** Add a header (several of one name become one list). */
  header(name: string, value: string): Response {
    this.headers.push(new Header(name, value));
    return this;
  }
}

/** Read the request, call `handler`, write what it returns. A request that does not decode
 * is answered 400; a response that cannot be written ends the function with status 1. */
export function serve(handler: (request: Request) => Response): void {
  const request = readRequest();
  if (request === null) {
    if (respondText(400, "text/plain", "pyjinn SDK: the request did not decode") != Status.OK) process.exit(1);
    return;
  }
  const response = handler(request);
  if (respond(response.status, response.headers, response.body) != Status.OK) process.exit(1);
}
