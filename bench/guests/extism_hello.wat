;; hello as an Extism plugin: its function "hello" outputs "hello" through the Extism kernel
;; (extism:host/env): allocate 8 bytes of the kernel's memory, store "hello" there, set them as
;; the output (5 bytes). The Extism PDKs do the same; this is the least a plugin can do.
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output (param i64 i64)))
  (memory (export "memory") 1)
  (func (export "hello") (result i32)
    (local $at i64)
    (local.set $at (call $alloc (i64.const 8)))
    ;; "hello" as a little-endian u64: h e l l o 0 0 0
    (call $store (local.get $at) (i64.const 0x6f6c6c6568))
    (call $output (local.get $at) (i64.const 5))
    (i32.const 0)))
