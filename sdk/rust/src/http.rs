//! Outbound HTTP, as `permissions { http }` allows, to the hosts `allow_host` lists
//! (docs/abi.md). Any status is an answer; the refusals are errors with their own codes:
//! `Denied` (a host or a redirect's target not listed), `AddressRefused`, `Limit` (over 8 MiB,
//! more than 5 redirects), `Timeout`, `Unavailable`, `Invalid`.

use crate::abi::{self, address, length};
use crate::error::{take_result, Error, Result};
use crate::json::Json;

/// An answer: its status, its headers (`{"name": ["value", ...]}`, lower-case names) and body.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Json,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower case), if it came.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.as_array()?.first()?.as_str()
    }
}

/// Send a request. `headers` is a JSON object of names to a string or an array of strings
/// (`None` for none); `body` may be empty.
pub fn request(method: &str, url: &str, headers: Option<&Json>, body: &[u8]) -> Result<Response> {
    let headers = headers.map(|headers| headers.to_string()).unwrap_or_default();
    let (method, url, fields) = (method.as_bytes(), url.as_bytes(), headers.as_bytes());
    let answer = take_result(unsafe {
        abi::http_request(
            address(method),
            length(method),
            address(url),
            length(url),
            address(fields),
            length(fields),
            address(body),
            length(body),
        )
    })?;
    // A JSON line {"status", "headers"}, a newline, then the body.
    let malformed = || Error::internal("http_request: the host sent no answer");
    let newline = answer.iter().position(|&byte| byte == b'\n').ok_or_else(malformed)?;
    let head = Json::parse_bytes(&answer[..newline]).map_err(|_| malformed())?;
    let status = head.get("status").and_then(Json::as_u64).ok_or_else(malformed)?;
    let headers = head.get("headers").cloned().ok_or_else(malformed)?;
    Ok(Response {
        status: u16::try_from(status).map_err(|_| malformed())?,
        headers,
        body: answer[newline + 1..].to_vec(),
    })
}

/// `request("GET", url, None, &[])`.
pub fn get(url: &str) -> Result<Response> {
    request("GET", url, None, &[])
}
