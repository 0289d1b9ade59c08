module pyjinn

go 1.21
