//! WebSocket connections, as `permissions { websocket }` allows (docs/actors.md). A function
//! serving a WebSocket handshake takes the connection over with [`upgrade`] and holds it until
//! it returns: its timeout is then the idle time allowed between messages, `max_duration`
//! bounds the whole connection, and `max_message` each message.
//!
//! ```no_run
//! use pyjinn::{ws, Request, Response};
//!
//! fn handle(_request: Request) -> Response {
//!     if ws::upgrade().is_ok() {
//!         while let Ok(ws::Message::Text(text)) = ws::read(None) {
//!             let _ = ws::send_text(&text);
//!         }
//!     }
//!     Response::text(200, "")
//! }
//! ```

use std::time::Duration;

use crate::abi::{self, address, length};
use crate::error::{check, take_result, Error, Result};

/// A message's type, as WebSocket numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// UTF-8 text.
    Text = 1,
    /// Bytes.
    Binary = 2,
    /// The end of the connection.
    Close = 8,
}

/// One message of a WebSocket connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
    /// The connection ended: its code (1000 normal, 1001 idle timeout or max_duration, ...; 0
    /// when the close carried none) and reason. It comes once; reads after it fail with
    /// [`ErrorCode::Closed`](crate::ErrorCode::Closed).
    Close { code: u16, reason: String },
}

/// Take over the WebSocket connection of the request being served. `Invalid` when the request
/// is not a WebSocket upgrade, `Closed` when the client has left.
pub fn upgrade() -> Result<()> {
    check(unsafe { abi::ws_upgrade() })
}

/// Wait for the next message: up to `wait`, or until the idle timeout for `None`. `NotFound`
/// when none came in time.
pub fn read(wait: Option<Duration>) -> Result<Message> {
    let wait_ms = match wait {
        Some(wait) => i32::try_from(wait.as_millis()).unwrap_or(i32::MAX),
        None => -1,
    };
    let block = take_result(unsafe { abi::ws_read(wait_ms) })?;
    let (&opcode, payload) =
        block.split_first().ok_or_else(|| Error::internal("ws_read: the host sent no opcode"))?;
    match opcode {
        1 => String::from_utf8(payload.to_vec())
            .map(Message::Text)
            .map_err(|_| Error::internal("ws_read: a text message is not UTF-8")),
        2 => Ok(Message::Binary(payload.to_vec())),
        8 => {
            let (code, reason) = if payload.len() >= 2 {
                (u16::from_be_bytes([payload[0], payload[1]]), &payload[2..])
            } else {
                (0, payload)
            };
            Ok(Message::Close { code, reason: String::from_utf8_lossy(reason).into_owned() })
        }
        other => Err(Error::internal(format!("ws_read: unknown opcode {other}"))),
    }
}

/// Send a message ([`Opcode::Text`] or [`Opcode::Binary`]). Waits while the client is behind;
/// `Limit` for a message over max_message, or a client that read nothing until the idle timeout
/// was near (the connection is then closed); `Closed` once it is closed.
pub fn write(opcode: Opcode, data: &[u8]) -> Result<()> {
    check(unsafe { abi::ws_write(opcode as i32, address(data), length(data)) })
}

/// Send a text message.
pub fn send_text(text: &str) -> Result<()> {
    write(Opcode::Text, text.as_bytes())
}

/// Send a binary message.
pub fn send_binary(data: &[u8]) -> Result<()> {
    write(Opcode::Binary, data)
}

/// Close the connection with `code` (1000, or 3000 to 4999) and a reason of at most 123 bytes,
/// after the messages sent before.
pub fn close(code: u16, reason: &str) -> Result<()> {
    let reason = reason.as_bytes();
    check(unsafe { abi::ws_close(i32::from(code), address(reason), length(reason)) })
}
