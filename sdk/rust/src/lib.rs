//! The Rust SDK for pyjinn functions (host ABI version 1). It depends on `std` alone, so it
//! builds offline with Debian's `rustc` and `libstd-rust-dev-wasm32` (Rust 1.63 and later).
//! docs/abi.md describes the ABI it binds, docs/languages.md how to build with it.
//!
//! A function is `fn handle(request: Request) -> Response`, handed to [`run`]:
//!
//! ```no_run
//! use pyjinn::{Request, Response};
//!
//! fn handle(request: Request) -> Response {
//!     let name = request.query_param("name").unwrap_or("world");
//!     pyjinn::log::info(&format!("greeting {name}"));
//!     Response::text(200, format!("Hello, {name}!"))
//! }
//!
//! fn main() {
//!     pyjinn::run(handle);
//! }
//! ```
//!
//! Host calls return [`Result`]: the error carries the ABI's code and the host's message.
//! Results are read into buffers of exactly their size: nothing is truncated.

pub mod abi;
pub mod ai;
mod base64;
pub mod blob;
pub mod db;
mod error;
pub mod http;
pub mod jobs;
pub mod json;
pub mod kv;
pub mod lock;
pub mod log;
mod request;
mod response;
pub mod ws;

pub use error::{last_error, Error, ErrorCode, Result};
pub use json::Json;
pub use request::{Request, RequestError};
pub use response::Response;

/// The version of the host ABI this SDK binds.
pub const ABI_VERSION: u32 = 1;

/// Read the request from stdin, call `handle`, and write its response to stdout.
///
/// A request that cannot be decoded (which pyjinn never sends) is answered 400 with
/// `{"error": "invalid request: ..."}` without calling `handle`. If stdout cannot be written,
/// the function exits with status 1 (a failed invocation).
pub fn run<F: FnOnce(Request) -> Response>(handle: F) {
    let response = match Request::read() {
        Ok(request) => handle(request),
        Err(error) => {
            let message = Json::from(format!("invalid request: {error}"));
            Response::json(400, &Json::object(vec![("error", message)]))
        }
    };
    if let Err(error) = response.send() {
        eprintln!("pyjinn: cannot write the response: {error}");
        std::process::exit(1);
    }
}
