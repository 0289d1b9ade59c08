;; The smallest function: _start returns at once, writing nothing. Measures the sandbox alone.
(module
  (memory (export "memory") 1)
  (func (export "_start")))
