// {{name}}: a pyjinn function in AssemblyScript.
//
// The request arrives on stdin as one JSON object ({"method", "uri", "path", "query",
// "headers", "body", ...}); the response leaves on stdout as one JSON object
// {"status", "headers", "body"}. Anything written to stderr is the function's log.
// Build it with `pyjinn build` (asc with @assemblyscript/wasi-shim, installed from npm).
// For host calls (log, key-value, SQL, objects) and a parsed request, use the SDK (pyjinn init
// copies it into the project's sdk/):
//   import { serve, Request, Response } from "../../sdk/assemblyscript/pyjinn";

// Read stdin to the end: this function does not need the request, but it must consume it.
const chunk = new ArrayBuffer(65536);
while (process.stdin.read(chunk) > 0) {}

process.stdout.write(
  '{"status":200,"headers":{"Content-Type":["text/plain; charset=utf-8"]},' +
    '"body":"Hello from {{name}}"}',
);
