//! hello in Rust with the Rust SDK (sdk/rust), for the per-language figures: decodes the
//! request as every SDK function does, and answers 200 text/plain "hello". Built by
//! bench/guests.py from `pyjinn init --lang rust`'s template (its release profile).
use pyjinn::{Request, Response};

fn handle(_request: Request) -> Response {
    Response::new(200).header("Content-Type", "text/plain").body("hello")
}

fn main() {
    pyjinn::run(handle);
}
