//! {{name}}: a pyjinn function in Rust, built by `pyjinn build` (cargo, target WASI).
//!
//! `handle` gets the request (method, path, query, headers, body, ...) and returns the
//! response; `pyjinn::run` reads the one from stdin and writes the other to stdout. The SDK's
//! docs: sdk/rust/src/lib.rs, and docs/languages.md.
use pyjinn::{Request, Response};

fn handle(request: Request) -> Response {
    let greeting = format!("Hello from {{name}} ({} {})", request.method, request.path);
    Response::text(200, greeting)
}

fn main() {
    pyjinn::run(handle);
}
