// The AssemblyScript SDK probe for tests/sdk/test_probe.py: one program whose request path
// picks what it exercises (/request, /body, /respond, /bad-header, /log, /kv). Mirrors probe.c.
import {
  Field, Header, Level, Request, Status, jsonString, kvDelete, kvGet, kvList, kvSet, lastError,
  log, logBytes, readRequest, respond, respondText, statusName,
} from "./pyjinn";

function text(value: string | null): string {
  return value === null ? "null" : jsonString(value);
}

function pairs(items: Field[]): string {
  let out = "[";
  for (let i = 0; i < items.length; i++) {
    out += (i ? "," : "") + "[" + jsonString(items[i].name) + "," + jsonString(items[i].value) + "]";
  }
  return out + "]";
}

function describe(request: Request): i32 {
  let out = "{\"body_length\":" + request.body.byteLength.toString();
  out += ",\"method\":" + jsonString(request.method) + ",\"uri\":" + jsonString(request.uri);
  out += ",\"path\":" + jsonString(request.path) + ",\"remote_addr\":" + jsonString(request.remoteAddr);
  out += ",\"trace_id\":" + jsonString(request.traceId) + ",\"tenant\":" + jsonString(request.tenant);
  out += ",\"probe_header\":" + text(request.header("x-PROBE"));
  const probes = request.headerValues("x-probe");
  out += ",\"probe_headers\":[";
  for (let i = 0; i < probes.length; i++) out += (i ? "," : "") + jsonString(probes[i]);
  out += "]";
  out += ",\"absent_header\":" + text(request.header("X-Absent"));
  out += ",\"q\":" + text(request.queryParam("q")) + ",\"absent_query\":" + text(request.queryParam("Q"));
  out += ",\"headers\":" + pairs(request.headers) + ",\"query\":" + pairs(request.query) + "}";
  return respondText(200, "application/json", out);
}

function logLevels(): i32 {
  log(Level.DEBUG, "probe: debug");
  log(Level.INFO, "probe: info");
  log(Level.WARN, "probe: warn");
  logBytes(Level.ERROR, String.UTF8.encode("probe: error, and not this").slice(0, 12));
  log(7, "probe: a level the host refuses");
  return respondText(200, "text/plain", lastError());
}

function keyValue(request: Request): i32 {
  const op = request.queryParam("op");
  const key = request.queryParam("key");
  if (op === null || key === null) return 4;
  let status: i32 = Status.OK;
  let body = new ArrayBuffer(0);
  if (op == "get") {
    const result = kvGet(key);
    status = result.status;
    body = result.data;
  } else if (op == "set") {
    status = kvSet(key, request.body);
  } else if (op == "delete") {
    status = kvDelete(key);
  } else if (op == "list") {
    const listed = kvList(key);
    status = listed.status;
    let out = "[";
    for (let i = 0; i < listed.keys.length; i++) out += (i ? "," : "") + jsonString(listed.keys[i]);
    body = String.UTF8.encode(out + "]");
  } else {
    return 4;
  }
  if (status != Status.OK) body = String.UTF8.encode(lastError());
  const headers = [new Header("X-Status", statusName(status)), new Header("Content-Type", "application/octet-stream")];
  return respond(200, headers, body);
}

function main(): i32 {
  const request = readRequest();
  if (request === null) return respondText(200, "text/plain", "BAD_REQUEST");
  const path = request.path;
  if (path == "/request") return describe(request);
  if (path == "/body") {
    const type = request.header("Content-Type");
    return respond(200, [new Header("Content-Type", type !== null ? type : "text/plain")], request.body);
  }
  if (path == "/respond") {
    const headers = [
      new Header("X-Multi", "one"),
      new Header("Content-Type", "text/plain; charset=utf-8"),
      new Header("x-multi", "two"),
      new Header("X-Quote", "say \"hi\" \\ caf\u00e9"),
    ];
    return respond(201, headers, String.UTF8.encode("line\n\t\"quoted\" \\ \x01 caf\u00e9 \u{1F600}"));
  }
  if (path == "/bad-header") {
    const status = respond(200, [new Header("X-Bad", String.fromCharCode(0xd800))], new ArrayBuffer(0));
    return respondText(200, "text/plain", statusName(status));
  }
  if (path == "/log") return logLevels();
  if (path == "/kv") return keyValue(request);
  return respondText(404, "text/plain", "no such probe");
}

const status = main();
if (status != Status.OK) process.exit(status < 0 ? 3 : status);
