;; Reads the 4 KiB object "bench/blob" once (blob_get, then result_read into a buffer) and
;; answers 200. Needs: s3_bucket NAME (the embedded store), permissions { blob_read bench }.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "pyjinn" "blob_get" (func $blob_get (param i32 i32) (result i64)))
  (import "pyjinn" "result_read" (func $result_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bench/blob")
  (data (i32.const 64) "{\"status\":200,\"body\":\"ok\"}")
  (func (export "_start") (local $length i64)
    (local.set $length (call $blob_get (i32.const 0) (i32.const 10)))
    (if (i64.lt_s (local.get $length) (i64.const 4096)) (then unreachable))
    (drop (call $result_read (i32.const 8192) (i32.wrap_i64 (local.get $length))))
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.const 26))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
