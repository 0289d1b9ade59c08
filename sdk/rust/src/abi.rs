//! The host functions of import module `pyjinn`, with the wasm types of `pyjinn/abi.py`: `i32`
//! for integers, pointers and lengths, `i64` for data results. The rest of the SDK is built on
//! these; call them directly only for something the SDK does not offer. A data result (`>= 0`)
//! is a length: copy the result with [`result_read`] into a buffer that large.
//!
//! Outside wasm32 (for `cargo check`, an editor, or host-side unit tests) each function exists
//! but panics when called: host calls run only inside pyjinn.

/// Declares the imports once: the wasm32 `extern` block, and the stand-ins elsewhere.
/// A new host function is one line here.
macro_rules! imports {
    ($($name:ident($($arg:ident: $kind:ty),*) $(-> $result:ty)?;)*) => {
        #[cfg(target_arch = "wasm32")]
        #[link(wasm_import_module = "pyjinn")]
        extern "C" {
            $(pub fn $name($($arg: $kind),*) $(-> $result)?;)*
        }

        $(
            #[cfg(not(target_arch = "wasm32"))]
            #[allow(unused_variables, clippy::missing_safety_doc)]
            pub unsafe extern "C" fn $name($($arg: $kind),*) $(-> $result)? {
                outside_pyjinn(stringify!($name))
            }
        )*
    };
}

imports! {
    log(level: i32, message: i32, message_len: i32);
    result_read(buffer: i32, capacity: i32) -> i32;
    error_read(buffer: i32, capacity: i32) -> i32;
    kv_get(key: i32, key_len: i32) -> i64;
    kv_set(key: i32, key_len: i32, value: i32, value_len: i32) -> i32;
    kv_delete(key: i32, key_len: i32) -> i32;
    kv_list(prefix: i32, prefix_len: i32) -> i64;
    db_query(sql: i32, sql_len: i32, params: i32, params_len: i32) -> i64;
    db_exec(sql: i32, sql_len: i32, params: i32, params_len: i32) -> i64;
    blob_put(key: i32, key_len: i32, data: i32, data_len: i32) -> i32;
    blob_get(key: i32, key_len: i32) -> i64;
    blob_delete(key: i32, key_len: i32) -> i32;
    blob_list(prefix: i32, prefix_len: i32) -> i64;
    job_enqueue(function: i32, function_len: i32, payload: i32, payload_len: i32,
                idempotency_key: i32, idempotency_key_len: i32) -> i64;
    ai_chat(request: i32, request_len: i32) -> i64;
    ai_embed(texts: i32, texts_len: i32) -> i64;
    http_request(method: i32, method_len: i32, url: i32, url_len: i32, headers: i32,
                 headers_len: i32, body: i32, body_len: i32) -> i64;
    lock_acquire(name: i32, name_len: i32, ttl_seconds: i32, wait_ms: i32) -> i64;
    lock_release(name: i32, name_len: i32, token: i32, token_len: i32) -> i32;
    ws_upgrade() -> i32;
    ws_read(wait_ms: i32) -> i64;
    ws_write(opcode: i32, data: i32, data_len: i32) -> i32;
    ws_close(code: i32, reason: i32, reason_len: i32) -> i32;
}

#[cfg(not(target_arch = "wasm32"))]
fn outside_pyjinn(name: &str) -> ! {
    panic!("pyjinn::abi::{name} is a host call: it runs only inside pyjinn (target wasm32-wasi)")
}

/// The address of `bytes` as the i32 the host reads (0 for an empty slice, whose pointer may be
/// anything).
pub fn address(bytes: &[u8]) -> i32 {
    if bytes.is_empty() {
        0
    } else {
        bytes.as_ptr() as usize as i32
    }
}

/// The length of `bytes` as the i32 the host reads. Lengths past `i32::MAX` cannot occur in a
/// wasm32 memory, so they are clamped rather than wrapped.
pub fn length(bytes: &[u8]) -> i32 {
    i32::try_from(bytes.len()).unwrap_or(i32::MAX)
}
