;; Stores "bench/key" = "hello, bench" so kv_get.wat has something to read.
;; Needs: permissions { kv_write bench }.
(module
  (import "pyjinn" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bench/key")
  (data (i32.const 16) "hello, bench")
  (func (export "_start")
    (if (call $kv_set (i32.const 0) (i32.const 9) (i32.const 16) (i32.const 12))
      (then unreachable))))
