//! Key-value store. Keys are 1 to 256 of `A-Z a-z 0-9 _ - . / =` (docs/abi.md); the function's
//! permissions grant namespaces: `kv_read notes` covers `notes` and `notes/...`.

use crate::abi::{self, address, length};
use crate::error::{check, take_result, Error, Result};
use crate::json::Json;

/// Read a key's value. Fails with [`ErrorCode::NotFound`](crate::ErrorCode) when it has none.
pub fn get(key: &str) -> Result<Vec<u8>> {
    let key = key.as_bytes();
    take_result(unsafe { abi::kv_get(address(key), length(key)) })
}

/// Write a key.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<()> {
    let (key, value) = (key.as_bytes(), value.as_ref());
    check(unsafe { abi::kv_set(address(key), length(key), address(value), length(value)) })
}

/// Delete a key; deleting a missing key is not an error.
pub fn delete(key: &str) -> Result<()> {
    let key = key.as_bytes();
    check(unsafe { abi::kv_delete(address(key), length(key)) })
}

/// The readable keys that start with `prefix` ("" for all).
pub fn list(prefix: &str) -> Result<Vec<String>> {
    let prefix = prefix.as_bytes();
    let json = take_result(unsafe { abi::kv_list(address(prefix), length(prefix)) })?;
    let keys = Json::parse_bytes(&json).ok();
    let keys: Option<Vec<String>> = keys
        .as_ref()
        .and_then(Json::as_array)
        .and_then(|items| items.iter().map(|key| key.as_str().map(String::from)).collect());
    keys.ok_or_else(|| Error::internal("kv_list: the host sent something that is not a key list"))
}
