;; One of thousands of distinct small functions for the density benchmark: the suite replaces
;; INDEX with the function's number, so every module has different bytes (and its own
;; compiled code), and answers 200 with that number.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\"status\":200,\"body\":\"function INDEX\"}")
  (global $index i32 (i32.const INDEX))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const LENGTH))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
