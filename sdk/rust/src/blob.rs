//! Object storage. Keys follow the key-value rules, at most 255 characters; `blob_read` and
//! `blob_write` grant namespaces. Objects are at most `blob_max_size` bytes (32 MiB by default).

use crate::abi::{self, address, length};
use crate::error::{check, take_result, Error, Result};
use crate::json::Json;

/// One stored object, as [`list`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub key: String,
    pub size: u64,
}

/// Store an object, replacing any object of that key.
pub fn put(key: &str, data: impl AsRef<[u8]>) -> Result<()> {
    let (key, data) = (key.as_bytes(), data.as_ref());
    check(unsafe { abi::blob_put(address(key), length(key), address(data), length(data)) })
}

/// Read an object. Fails with [`ErrorCode::NotFound`](crate::ErrorCode) when there is none.
pub fn get(key: &str) -> Result<Vec<u8>> {
    let key = key.as_bytes();
    take_result(unsafe { abi::blob_get(address(key), length(key)) })
}

/// Delete an object; deleting a missing object is not an error.
pub fn delete(key: &str) -> Result<()> {
    let key = key.as_bytes();
    check(unsafe { abi::blob_delete(address(key), length(key)) })
}

/// The readable objects whose keys start with `prefix`, sorted by key.
pub fn list(prefix: &str) -> Result<Vec<Blob>> {
    let prefix = prefix.as_bytes();
    let json = take_result(unsafe { abi::blob_list(address(prefix), length(prefix)) })?;
    let listed = Json::parse_bytes(&json).ok();
    let blobs: Option<Vec<Blob>> = listed.as_ref().and_then(Json::as_array).and_then(|items| {
        items
            .iter()
            .map(|item| {
                let key = item.get("key")?.as_str()?.to_string();
                let size = item.get("size")?.as_u64()?;
                Some(Blob { key, size })
            })
            .collect()
    });
    blobs.ok_or_else(|| Error::internal("blob_list: the host sent something that is not a list"))
}
