;; {{name}}: a pyjinn function in WebAssembly text.
;;
;; The request arrives on stdin as one JSON object; the response leaves on stdout as one JSON
;; object {"status", "headers", "body"}. Anything written to stderr is the function's log.
;; `pyjinn build` assembles this file with wasmtime's wat2wasm.
;;
;; Memory layout: [0, 8) one iovec (pointer, length), [8, 12) the byte count a WASI call
;; returns, [1024, ...) the response as a NUL-terminated string, [4096, 8192) the read buffer.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  (memory (export "memory") 1)

  (data (i32.const 1024)
    "{\"status\":200,"
    "\"headers\":{\"Content-Type\":[\"text/plain; charset=utf-8\"]},"
    "\"body\":\"Hello from {{name}}\"}\00")

  ;; Read stdin to the end: this function does not need the request, but it must consume it.
  (func $drain_stdin
    (block $done
      (loop $more
        (i32.store (i32.const 0) (i32.const 4096))
        (i32.store (i32.const 4) (i32.const 4096))
        (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $more (i32.load (i32.const 8))))))

  (func $strlen (param $start i32) (result i32)
    (local $end i32)
    (local.set $end (local.get $start))
    (block $done
      (loop $more
        (br_if $done (i32.eqz (i32.load8_u (local.get $end))))
        (local.set $end (i32.add (local.get $end) (i32.const 1)))
        (br $more)))
    (i32.sub (local.get $end) (local.get $start)))

  ;; fd_write may write fewer bytes than asked for, so loop; and pass one iovec at a time,
  ;; since some runtimes write only the first of several.
  ;; Returns 0, or the WASI errno of the write that failed.
  (func $write_all (param $data i32) (param $length i32) (result i32)
    (local $errno i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $length)))
        (i32.store (i32.const 0) (local.get $data))
        (i32.store (i32.const 4) (local.get $length))
        (local.set $errno
          (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $done (local.get $errno))
        ;; A write that makes no progress would loop forever: report it as EIO (29).
        (local.set $errno (i32.mul (i32.const 29) (i32.eqz (i32.load (i32.const 8)))))
        (br_if $done (local.get $errno))
        (local.set $data (i32.add (local.get $data) (i32.load (i32.const 8))))
        (local.set $length (i32.sub (local.get $length) (i32.load (i32.const 8))))
        (br $more)))
    (local.get $errno))

  (func (export "_start")
    (call $drain_stdin)
    (if (call $write_all (i32.const 1024) (call $strlen (i32.const 1024)))
      (then (call $proc_exit (i32.const 1))))))
