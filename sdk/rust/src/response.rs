//! The response, written to stdout as the JSON document of docs/contract.md.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::base64;
use crate::json::{write_string, Json};

/// One HTTP response: a status, headers (one pair per value) and a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body.into().into_bytes())
    }

    /// An `application/json` response.
    pub fn json(status: u16, value: &Json) -> Response {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(value.to_string().into_bytes())
    }

    /// Add a header (a name may be added several times: each value is sent).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Set the body: any bytes (a body that is not UTF-8 is sent base64-encoded).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The JSON document pyjinn reads: `{"status", "headers", "body"}`. Headers of the same
    /// name (any case) become one list, under the first spelling; a body that is not UTF-8 is
    /// base64-encoded with `"body_encoding": "base64"`, so any bytes arrive intact.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.body.len() + 64);
        // Writing to a String cannot fail.
        let _ = self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) -> std::fmt::Result {
        write!(out, "{{\"status\":{},\"headers\":{{", self.status)?;
        let mut listed: Vec<&str> = Vec::new();
        for (name, _) in &self.headers {
            if listed.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
                continue;
            }
            if !listed.is_empty() {
                out.push(',');
            }
            listed.push(name);
            write_string(out, name)?;
            out.push_str(":[");
            let values = self.headers.iter().filter(|(other, _)| other.eq_ignore_ascii_case(name));
            for (index, (_, value)) in values.enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, value)?;
            }
            out.push(']');
        }
        out.push_str("},\"body\":");
        match std::str::from_utf8(&self.body) {
            Ok(text) => write_string(out, text)?,
            Err(_) => {
                write!(out, "\"{}\",\"body_encoding\":\"base64\"", base64::encode(&self.body))?
            }
        }
        out.push_str("}\n");
        Ok(())
    }

    /// Write the response to stdout, in one write (call it once: the response is one object).
    pub fn send(&self) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(self.to_json().as_bytes())?;
        stdout.flush()
    }
}
