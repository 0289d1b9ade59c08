;; Creates the table sql_query.wat reads and stores its one row: (1, 'one').
;; Needs: db_driver sqlite, permissions { db write }.
(module
  (import "pyjinn" "db_exec" (func $db_exec (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT)")
  (data (i32.const 128) "INSERT OR REPLACE INTO items (id, name) VALUES (1, 'one')")
  (func (export "_start")
    (if (i64.lt_s (call $db_exec (i32.const 0) (i32.const 68) (i32.const 0) (i32.const 0))
                  (i64.const 0))
      (then unreachable))
    (if (i64.lt_s (call $db_exec (i32.const 128) (i32.const 57) (i32.const 0) (i32.const 0))
                  (i64.const 0))
      (then unreachable))))
