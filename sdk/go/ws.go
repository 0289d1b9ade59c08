package pyjinn

import (
	"time"
	"unicode/utf8"

	"pyjinn/abi"
)

// WSOpcode is a WebSocket message's type, as WebSocket numbers it.
type WSOpcode int32

const (
	WSTextMessage   WSOpcode = 1 // UTF-8 text
	WSBinaryMessage WSOpcode = 2 // bytes
	WSCloseMessage  WSOpcode = 8 // the end of the connection
)

// WSMessage is one message of a WebSocket connection.
type WSMessage struct {
	Opcode WSOpcode
	// Data is the payload, or a close's reason.
	Data []byte
	// CloseCode is a close's code (1000 normal, 1001 idle timeout or max_duration, ...); 0
	// otherwise.
	CloseCode int
}

// WSUpgrade takes over the WebSocket connection of the request being served (permissions
// { websocket }, docs/actors.md): the function holds it until it returns; its timeout is then
// the idle time allowed between messages and max_duration bounds the whole connection.
// ErrInvalid when the request is not a WebSocket upgrade, ErrClosed when the client has left.
func WSUpgrade() error {
	return check(abi.WSUpgrade())
}

// WSRead waits up to wait (negative: until the idle timeout) for the next message; ErrNotFound
// when none came in time. The end of the connection comes once, as a message with opcode
// WSCloseMessage; after it, ErrClosed.
func WSRead(wait time.Duration) (WSMessage, error) {
	waitMS := int32(-1)
	if wait >= 0 {
		waitMS = int32(min(wait.Milliseconds(), int64(^uint32(0)>>1)))
	}
	block, err := takeResult(abi.WSRead(waitMS))
	if err != nil {
		return WSMessage{}, err
	}
	if len(block) == 0 {
		return WSMessage{}, &Error{Code: Internal, Message: "ws_read: the host sent no opcode"}
	}
	message := WSMessage{Opcode: WSOpcode(block[0]), Data: block[1:]}
	switch message.Opcode {
	case WSTextMessage:
		if !utf8.Valid(message.Data) {
			return WSMessage{}, &Error{Code: Internal, Message: "ws_read: a text message is not UTF-8"}
		}
	case WSBinaryMessage:
	case WSCloseMessage:
		if len(message.Data) >= 2 {
			message.CloseCode = int(message.Data[0])<<8 | int(message.Data[1])
			message.Data = message.Data[2:]
		}
	default:
		return WSMessage{}, &Error{Code: Internal, Message: "ws_read: unknown opcode"}
	}
	return message, nil
}

// WSWrite sends a message (WSTextMessage or WSBinaryMessage). It waits while the client is behind;
// ErrLimit for a message over max_message, or a client that read nothing until the idle
// timeout was near (the connection is then closed); ErrClosed once it is closed.
func WSWrite(opcode WSOpcode, data []byte) error {
	return check(abi.WSWrite(int32(opcode), pointer(data), size(data)))
}

// WSWriteText sends a text message.
func WSWriteText(message string) error {
	return check(abi.WSWrite(int32(WSTextMessage), text(message), size(message)))
}

// WSClose closes the connection with code (1000, or 3000 to 4999) and a reason of at most
// 123 bytes, after the messages written before.
func WSClose(code int, reason string) error {
	return check(abi.WSClose(int32(code), text(reason), size(reason)))
}
