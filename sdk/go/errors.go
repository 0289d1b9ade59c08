package pyjinn

import (
	"strconv"
	"unsafe"

	"pyjinn/abi"
)

// Code is one of the host's error codes (pyjinn.abi.ErrorCode).
type Code int32

const (
	NotFound    Code = -1 // no such key or object
	Denied      Code = -2 // the function's permissions do not cover the call
	Invalid     Code = -3 // a bad argument: a bad key, pointer or length
	Unavailable Code = -4 // the backend is down or not configured
	Limit       Code = -5 // a size or quota was exceeded
	Internal    Code = -6 // a fault in the host, or a result this SDK cannot read
)

// Closed is the code of a call on a WebSocket connection that is closed (its close was read).
const Closed Code = -12

// String is the code's name: "NotFound", "Denied", ...
func (code Code) String() string {
	switch code {
	case NotFound:
		return "NotFound"
	case Denied:
		return "Denied"
	case Invalid:
		return "Invalid"
	case Unavailable:
		return "Unavailable"
	case Limit:
		return "Limit"
	case Internal:
		return "Internal"
	case Closed:
		return "Closed"
	}
	return "Code(" + strconv.Itoa(int(code)) + ")"
}

// Error is a failed host call: its code, and the host's message (read right after it failed).
type Error struct {
	Code    Code
	Message string
}

func (err *Error) Error() string { return err.Code.String() + ": " + err.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, pyjinn.ErrNotFound) tests the code whatever the message.
func (err *Error) Is(target error) bool {
	other, ok := target.(*Error)
	return ok && other.Code == err.Code
}

// One error per code, for errors.Is.
var (
	ErrNotFound    = &Error{Code: NotFound}
	ErrDenied      = &Error{Code: Denied}
	ErrInvalid     = &Error{Code: Invalid}
	ErrUnavailable = &Error{Code: Unavailable}
	ErrLimit       = &Error{Code: Limit}
	ErrInternal    = &Error{Code: Internal}
	ErrClosed      = &Error{Code: Closed}
)

// LastError is the message of the last failed host call in this invocation ("" when none
// failed). Call it right after the failing call; *Error already carries it.
func LastError() string {
	size := abi.ErrorRead(nil, 0) // capacity 0 asks for the length
	if size <= 0 {
		return ""
	}
	buffer := make([]byte, size)
	copied := abi.ErrorRead(unsafe.Pointer(&buffer[0]), size)
	if copied < 0 {
		return ""
	}
	return string(buffer[:copied])
}

// fail is the error for a negative host result.
func fail(result int64) error {
	code := Code(result)
	if result < int64(Internal) && code != Closed {
		code = Internal
	}
	return &Error{Code: code, Message: LastError()}
}

// check turns a status result (0 or a negative code) into an error.
func check(status int32) error {
	if status < 0 {
		return fail(int64(status))
	}
	return nil
}

// takeResult copies the pending result of a data call (result is what it returned).
func takeResult(result int64) ([]byte, error) {
	if result < 0 {
		return nil, fail(result)
	}
	if result > int64(^uint32(0)>>1) {
		return nil, &Error{Code: Internal, Message: "result too large"}
	}
	buffer := make([]byte, result)
	copied := abi.ResultRead(pointer(buffer), int32(result))
	if copied < 0 {
		return nil, fail(int64(copied))
	}
	if int64(copied) != result {
		message := "the host copied " + strconv.Itoa(int(copied)) + " of " +
			strconv.FormatInt(result, 10) + " bytes"
		return nil, &Error{Code: Internal, Message: message}
	}
	return buffer, nil
}

// pointer is the address of a slice's bytes as the host reads it (nil for an empty slice).
func pointer(data []byte) unsafe.Pointer {
	if len(data) == 0 {
		return nil
	}
	return unsafe.Pointer(&data[0])
}

// text is the address of a string's bytes as the host reads it (nil for "").
func text(s string) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

// size is a length as the int32 the host reads.
func size[T []byte | string](data T) int32 { return int32(len(data)) }
