;; hello as a wasi:http 0.2 component, for `wasmtime serve` (a fresh instance per request):
;; answers 200 text/plain "hello". A core module written against the canonical ABI of the
;; interfaces in wasi_http_hello.wit; bench/fronts/componentize.mjs lifts it into a component.
(module
  (import "wasi:http/types@0.2.0" "[resource-drop]incoming-request"
    (func $drop_request (param i32)))
  (import "wasi:http/types@0.2.0" "[constructor]fields" (func $fields (result i32)))
  (import "wasi:http/types@0.2.0" "[method]fields.append"
    (func $append (param i32 i32 i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.0" "[constructor]outgoing-response"
    (func $response (param i32) (result i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-response.body"
    (func $body (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[method]outgoing-body.write" (func $write (param i32 i32)))
  (import "wasi:http/types@0.2.0" "[static]response-outparam.set"
    (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.0" "[static]outgoing-body.finish"
    (func $finish (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write_flush (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop_stream (param i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 256) "hello")
  (data (i32.const 272) "content-type")
  (data (i32.const 288) "text/plain")
  ;; Only an error (strings in error-code) is ever lowered into this memory: a bump allocator.
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $at i32)
    (local.set $at (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $at) (local.get 3)))
    (local.get $at))
  (func (export "wasi:http/incoming-handler@0.2.0#handle") (param $request i32) (param $out i32)
    (local $headers i32) (local $response i32) (local $body i32) (local $stream i32)
    (call $drop_request (local.get $request))
    (local.set $headers (call $fields))
    (call $append (local.get $headers) (i32.const 272) (i32.const 12) (i32.const 288)
      (i32.const 10) (i32.const 64))
    (if (i32.load8_u (i32.const 64)) (then unreachable))
    (local.set $response (call $response (local.get $headers)))
    (call $body (local.get $response) (i32.const 64))
    (if (i32.load8_u (i32.const 64)) (then unreachable))
    (local.set $body (i32.load (i32.const 68)))
    (call $write (local.get $body) (i32.const 64))
    (if (i32.load8_u (i32.const 64)) (then unreachable))
    (local.set $stream (i32.load (i32.const 68)))
    (call $set (local.get $out) (i32.const 0) (local.get $response) (i32.const 0) (i64.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (call $write_flush (local.get $stream) (i32.const 256) (i32.const 5) (i32.const 64))
    (if (i32.load8_u (i32.const 64)) (then unreachable))
    (call $drop_stream (local.get $stream))
    (call $finish (local.get $body) (i32.const 0) (i32.const 0) (i32.const 64))
    (if (i32.load8_u (i32.const 64)) (then unreachable))))
