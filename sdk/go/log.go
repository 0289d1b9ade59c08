package pyjinn

import (
	"fmt"

	"pyjinn/abi"
)

// Level is a log record's level.
type Level int32

const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Log writes a record to the host's log, tagged with the function and the trace id (the host
// keeps the first 4096 bytes of a message). Lines written to stderr become records too, always
// at info level.
func Log(level Level, message string) {
	abi.Log(int32(level), text(message), size(message))
}

// Logf is Log with fmt.Sprintf formatting.
func Logf(level Level, format string, args ...any) {
	Log(level, fmt.Sprintf(format, args...))
}
