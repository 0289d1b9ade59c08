module links

go 1.21

require pyjinn v0.0.0

replace pyjinn => ../../../sdk/go
