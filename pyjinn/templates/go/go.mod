module {{name}}

go 1.21

require pyjinn v0.0.0

// The pyjinn SDK (standard library only, so the build needs no module proxy).
replace pyjinn => {{sdk}}
