//! Jobs: enqueue a job of another function, as `jobs_enqueue` in the permissions block allows.
//! The job runs later, at least once, with `payload` as its request body (docs/events.md).

use crate::abi::{self, address, length};
use crate::error::{take_result, Error, Result};

/// Enqueue a job of `function` for this request's tenant; returns the job's id. A non-empty
/// `idempotency_key` makes every enqueue with the same key the same job.
pub fn enqueue(function: &str, payload: impl AsRef<[u8]>, idempotency_key: &str) -> Result<String> {
    let (function, payload, key) = (function.as_bytes(), payload.as_ref(), idempotency_key.as_bytes());
    let id = take_result(unsafe {
        abi::job_enqueue(
            address(function),
            length(function),
            address(payload),
            length(payload),
            address(key),
            length(key),
        )
    })?;
    String::from_utf8(id).map_err(|_| Error::internal("job_enqueue: the job id is not UTF-8"))
}
