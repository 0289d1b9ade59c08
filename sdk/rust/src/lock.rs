//! Locks, as `lock NAMESPACE` in the permissions block allows: one holder at a time per tenant
//! and name, across workers and nodes (docs/abi.md). Locks still held when the invocation ends
//! are released then.

use crate::abi::{self, address, length};
use crate::error::{check, take_result, Error, Result};

/// Take lock `name` for at most `ttl_seconds` (1 to 86400), waiting up to `wait_ms` for its
/// holder to let go; returns the token that releases it. `ErrorCode::Busy` when another holds
/// it.
pub fn acquire(name: &str, ttl_seconds: u32, wait_ms: u32) -> Result<String> {
    let name = name.as_bytes();
    let ttl = i32::try_from(ttl_seconds).unwrap_or(i32::MAX);
    let wait = i32::try_from(wait_ms).unwrap_or(i32::MAX);
    let token = take_result(unsafe { abi::lock_acquire(address(name), length(name), ttl, wait) })?;
    String::from_utf8(token).map_err(|_| Error::internal("lock_acquire: the token is not UTF-8"))
}

/// Release lock `name` with its token: `ErrorCode::Denied` when another holds it,
/// `ErrorCode::NotFound` when nobody does (its TTL ran out).
pub fn release(name: &str, token: &str) -> Result<()> {
    let (name, token) = (name.as_bytes(), token.as_bytes());
    check(unsafe { abi::lock_release(address(name), length(name), address(token), length(token)) })
}
