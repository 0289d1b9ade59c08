;; Stores the 4 KiB object "bench/blob" so blob_get.wat has something to read.
;; Needs: s3_bucket NAME (the embedded store), permissions { blob_write bench }.
(module
  (import "pyjinn" "blob_put" (func $blob_put (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bench/blob")
  (func (export "_start")
    (memory.fill (i32.const 4096) (i32.const 0x61) (i32.const 4096))
    (if (call $blob_put (i32.const 0) (i32.const 10) (i32.const 4096) (i32.const 4096))
      (then unreachable))))
