//! Errors of host calls: the ABI's error code with the host's message.

use std::fmt;

use crate::abi;

/// What a host call returns.
pub type Result<T> = std::result::Result<T, Error>;

/// The host's error codes (`pyjinn.abi.ErrorCode`). The ABI may gain codes, so a `match` needs
/// a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No such key or object.
    NotFound,
    /// The function's permissions do not cover the call.
    Denied,
    /// A bad argument: a bad key, pointer or length.
    Invalid,
    /// The backend is down or not configured.
    Unavailable,
    /// A size or quota was exceeded.
    Limit,
    /// A fault in the host (also: a code this SDK does not know, or a malformed result).
    Internal,
    /// The tenant's budget for the call is spent for now (`ai_tokens_per_minute`).
    Budget,
    /// The service behind the call refused for its own rate limit (the model's provider).
    RateLimited,
    /// The call ran out of time (an outbound request).
    Timeout,
    /// An allowed host resolved to an address outbound calls may not reach.
    AddressRefused,
    /// The lock is held by another holder.
    Busy,
    /// The WebSocket connection is closed (its close was read).
    Closed,
}

impl ErrorCode {
    /// The code for a negative host result.
    pub fn from_result(result: i64) -> ErrorCode {
        match result {
            -1 => ErrorCode::NotFound,
            -2 => ErrorCode::Denied,
            -3 => ErrorCode::Invalid,
            -4 => ErrorCode::Unavailable,
            -5 => ErrorCode::Limit,
            -7 => ErrorCode::Budget,
            -8 => ErrorCode::RateLimited,
            -9 => ErrorCode::Timeout,
            -10 => ErrorCode::AddressRefused,
            -11 => ErrorCode::Busy,
            -12 => ErrorCode::Closed,
            _ => ErrorCode::Internal,
        }
    }

    /// The code's value in the ABI.
    pub fn value(self) -> i32 {
        match self {
            ErrorCode::NotFound => -1,
            ErrorCode::Denied => -2,
            ErrorCode::Invalid => -3,
            ErrorCode::Unavailable => -4,
            ErrorCode::Limit => -5,
            ErrorCode::Internal => -6,
            ErrorCode::Budget => -7,
            ErrorCode::RateLimited => -8,
            ErrorCode::Timeout => -9,
            ErrorCode::AddressRefused => -10,
            ErrorCode::Busy => -11,
            ErrorCode::Closed => -12,
        }
    }
}

/// A failed host call: its code, and the host's message (read right after the failure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    /// The error for a negative host result, with the host's message of the last failure.
    pub fn from_result(result: i64) -> Error {
        Error { code: ErrorCode::from_result(result), message: last_error() }
    }

    /// An error found by the SDK itself (a result it cannot read), not reported by the host.
    pub(crate) fn internal(message: impl Into<String>) -> Error {
        Error { code: ErrorCode::Internal, message: message.into() }
    }

    /// Whether the call failed because there was no such key or object.
    pub fn is_not_found(&self) -> bool {
        self.code == ErrorCode::NotFound
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// The message of the last failed host call in this invocation ("" when none failed). Call it
/// right after the failing call; [`Error`] already carries it.
pub fn last_error() -> String {
    // Capacity 0 asks for the length.
    let size = unsafe { abi::error_read(0, 0) };
    if size <= 0 {
        return String::new();
    }
    let mut buffer = vec![0u8; size as usize];
    let copied = unsafe { abi::error_read(abi::address(&buffer), abi::length(&buffer)) };
    buffer.truncate(copied.max(0) as usize);
    String::from_utf8_lossy(&buffer).into_owned()
}

/// Turn a status result (0 or a negative code) into a `Result`.
pub(crate) fn check(status: i32) -> Result<()> {
    if status < 0 {
        Err(Error::from_result(i64::from(status)))
    } else {
        Ok(())
    }
}

/// Copy the pending result of a data call (`result` is what it returned) into a new buffer.
pub(crate) fn take_result(result: i64) -> Result<Vec<u8>> {
    if result < 0 {
        return Err(Error::from_result(result));
    }
    let size = usize::try_from(result).map_err(|_| Error::internal("result too large"))?;
    let buffer = vec![0u8; size];
    let copied = unsafe { abi::result_read(abi::address(&buffer), abi::length(&buffer)) };
    if copied < 0 {
        return Err(Error::from_result(i64::from(copied)));
    }
    if i64::from(copied) != result {
        return Err(Error::internal(format!("the host copied {copied} of {result} bytes")));
    }
    Ok(buffer)
}
