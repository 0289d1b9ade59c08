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
	Budget      Code = -7 // the tenant's budget for the call is spent for now
	RateLimited Code = -8 // the service behind the call refused for its own rate limit
	Timeout     Code = -9 // the call ran out of time (an outbound request)
	// AddressRefused: an allowed host resolved to an address outbound calls may not reach.
	AddressRefused Code = -10
	Busy           Code = -11 // the lock is held by another holder
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
	case Budget:
		return "Budget"
	case RateLimited:
		return "RateLimited"
	case Timeout:
		return "Timeout"
	case AddressRefused:
		return "AddressRefused"
	case Busy:
		return "Busy"
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
	ErrNotFound       = &Error{Code: NotFound}
	ErrDenied         = &Error{Code: Denied}
	ErrInvalid        = &Error{Code: Invalid}
	ErrUnavailable    = &Error{Code: Unavailable}
	ErrLimit          = &Error{Code: Limit}
	ErrInternal       = &Error{Code: Internal}
	ErrBudget         = &Error{Code: Budget}
	ErrRateLimited    = &Error{Code: RateLimited}
	ErrTimeout        = &Error{Code: Timeout}
	ErrAddressRefused = &Error{Code: AddressRefused}
	ErrBusy           = &Error{Code: Busy}
	ErrClosed         = &Error{Code: Closed}
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
	if result < int64(Closed) {
		code = Internal // a code this SDK does not know
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
