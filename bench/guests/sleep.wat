;; Sleeps SLEEP_NS nanoseconds (WASI poll_oneoff on a relative monotonic clock), then answers
;; 200 with the real-time clock's reading before and after the sleep: "START END" in
;; nanoseconds. The suite replaces SLEEP_NS before assembling it. The concurrency test keeps
;; hundreds of these in flight at once and counts, from those intervals, how many instances
;; were asleep at the same time.
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "{\"status\":200,\"body\":\"")
  (global $out (mut i32) (i32.const 1046))
  (func $put (param $c i32)
    (i32.store8 (global.get $out) (local.get $c))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))
  ;; Appends $v in decimal.
  (func $number (param $v i64) (local $p i32)
    (local.set $p (i32.const 960))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (loop $copy
      (call $put (i32.load8_u (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $copy (i32.lt_u (local.get $p) (i32.const 960)))))
  (func $now (result i64)
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 512)))
    (i64.load (i32.const 512)))
  (func (export "_start")
    (call $number (call $now))
    (call $put (i32.const 32))
    ;; subscription at 0 (48 bytes): userdata 0, tag 0 (clock), clock id 1 (monotonic),
    ;; timeout SLEEP_NS, precision 0, flags 0 (relative)
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const SLEEP_NS))
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (call $number (call $now))
    (call $put (i32.const 34))
    (call $put (i32.const 125))
    (i32.store (i32.const 192) (i32.const 1024))
    (i32.store (i32.const 196) (i32.sub (global.get $out) (i32.const 1024)))
    (drop (call $fd_write (i32.const 1) (i32.const 192) (i32.const 1) (i32.const 200)))))
