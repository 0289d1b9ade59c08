//! The request, decoded from the JSON document on stdin (docs/contract.md).

use std::fmt;
use std::io::Read;

use crate::base64;
use crate::json::{Json, ParseError};

/// One HTTP request. Missing text fields are "".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent: path and query.
    pub uri: String,
    /// The decoded path.
    pub path: String,
    /// Query parameters, one pair per value, in the order they arrived.
    pub query: Vec<(String, String)>,
    /// Headers, one pair per value, names in canonical form (`Content-Type`).
    pub headers: Vec<(String, String)>,
    /// The body's bytes (decoded when it travelled as base64).
    pub body: Vec<u8>,
    /// The client's `ip:port`.
    pub remote_addr: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// The tenant the request acts for ("" when not sent).
    pub tenant: String,
}

/// Why stdin did not hold a request.
#[derive(Debug)]
pub enum RequestError {
    /// Stdin could not be read.
    Read(std::io::Error),
    /// Stdin is not JSON.
    Json(ParseError),
    /// The JSON is not an object.
    NotAnObject,
    /// A field of the object is not as docs/contract.md says: its name.
    Field(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Read(error) => write!(f, "cannot read stdin: {error}"),
            RequestError::Json(error) => write!(f, "not JSON: {error}"),
            RequestError::NotAnObject => f.write_str("not a JSON object"),
            RequestError::Field(name) => {
                write!(f, "field {name:?} is not as docs/contract.md says")
            }
        }
    }
}

impl std::error::Error for RequestError {}

impl Request {
    /// Read the whole request from stdin and decode it.
    pub fn read() -> Result<Request, RequestError> {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input).map_err(RequestError::Read)?;
        Request::parse(&input)
    }

    /// Decode a request from its JSON text (what [`Request::read`] does after reading stdin).
    pub fn parse(input: &[u8]) -> Result<Request, RequestError> {
        let document = Json::parse_bytes(input).map_err(RequestError::Json)?;
        let members = document.as_object().ok_or(RequestError::NotAnObject)?;
        let mut request = Request::default();
        let mut body = "";
        let mut encoding = "";
        for (name, value) in members {
            let text = match name.as_str() {
                "method" => &mut request.method,
                "uri" => &mut request.uri,
                "path" => &mut request.path,
                "remote_addr" => &mut request.remote_addr,
                "trace_id" => &mut request.trace_id,
                "tenant" => &mut request.tenant,
                "headers" => {
                    request.headers = fields(value).ok_or_else(|| wrong("headers"))?;
                    continue;
                }
                "query" => {
                    request.query = fields(value).ok_or_else(|| wrong("query"))?;
                    continue;
                }
                "body" => {
                    body = optional_text(value).ok_or_else(|| wrong("body"))?;
                    continue;
                }
                "body_encoding" => {
                    encoding = optional_text(value).ok_or_else(|| wrong("body_encoding"))?;
                    continue;
                }
                _ => continue, // fields this SDK does not know yet
            };
            *text = optional_text(value).ok_or_else(|| wrong(name))?.to_string();
        }
        request.body = match encoding {
            "" => body.as_bytes().to_vec(),
            "base64" => base64::decode(body).ok_or_else(|| wrong("body"))?,
            _ => return Err(wrong("body_encoding")), // one this SDK does not know
        };
        Ok(request)
    }

    /// The first value of header `name`, compared without regard to ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, |key| key.eq_ignore_ascii_case(name))
    }

    /// Every value of header `name`, compared without regard to ASCII case.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        every(&self.headers, |key| key.eq_ignore_ascii_case(name))
    }

    /// The first value of query parameter `name`, compared exactly.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        first(&self.query, |key| key == name)
    }

    /// Every value of query parameter `name`, compared exactly.
    pub fn query_values(&self, name: &str) -> Vec<&str> {
        every(&self.query, |key| key == name)
    }

    /// The body as text, if it is UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

fn first(pairs: &[(String, String)], matches: impl Fn(&str) -> bool) -> Option<&str> {
    pairs.iter().find(|(key, _)| matches(key)).map(|(_, value)| value.as_str())
}

fn every(pairs: &[(String, String)], matches: impl Fn(&str) -> bool) -> Vec<&str> {
    pairs.iter().filter(|(key, _)| matches(key)).map(|(_, value)| value.as_str()).collect()
}

fn wrong(field: &str) -> RequestError {
    RequestError::Field(field.to_string())
}

/// A string, or "" for null.
fn optional_text(value: &Json) -> Option<&str> {
    match value {
        Json::Null => Some(""),
        Json::String(text) => Some(text),
        _ => None,
    }
}

/// An object of name -> list of strings (or one string), flattened to pairs in order.
fn fields(value: &Json) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let members = match value {
        Json::Null => return Some(pairs),
        Json::Object(members) => members,
        _ => return None,
    };
    for (name, values) in members {
        match values {
            Json::String(text) => pairs.push((name.clone(), text.clone())),
            Json::Array(items) => {
                for item in items {
                    pairs.push((name.clone(), item.as_str()?.to_string()));
                }
            }
            _ => return None,
        }
    }
    Some(pairs)
}
