//! The Rust SDK probe for tests/sdk/test_probe.py: one program whose request path picks what it
//! exercises (/request, /body, /respond, /log, /kv). Mirrors probe.c and probe.zig. (There is no
//! /bad-header: a Rust String is UTF-8, so a header that is not cannot be built.)
use pyjinn::{kv, Error, Json, Request, Response};

fn handle(request: Request) -> Response {
    match request.path.as_str() {
        "/request" => describe(&request),
        "/body" => {
            let kind = request.header("Content-Type").unwrap_or("text/plain").to_string();
            Response::new(200).header("Content-Type", kind).body(request.body)
        }
        "/respond" => Response::new(201)
            .header("X-Multi", "one")
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("x-multi", "two")
            .header("X-Quote", "say \"hi\" \\ caf\u{e9}")
            .body("line\n\t\"quoted\" \\ \u{1} caf\u{e9} \u{1f600}"),
        "/log" => {
            pyjinn::log::debug("probe: debug");
            pyjinn::log::info("probe: info");
            pyjinn::log::warn("probe: warn");
            pyjinn::log::error("probe: error");
            let refused = b"probe: refused";
            unsafe { pyjinn::abi::log(7, pyjinn::abi::address(refused), 14) };
            Response::new(200).body(pyjinn::last_error())
        }
        "/kv" => key_value(&request),
        _ => Response::new(404).body("no such probe"),
    }
}

fn describe(request: &Request) -> Response {
    let pairs =
        |items: &[(String, String)]| {
            Json::array(items.iter().map(|(name, value)| {
                Json::array(vec![name.as_str().into(), value.as_str().into()])
            }))
        };
    let text = |value: &str| Json::from(value);
    let seen = Json::object(vec![
        ("body_length", Json::from(request.body.len())),
        ("method", text(&request.method)),
        ("uri", text(&request.uri)),
        ("path", text(&request.path)),
        ("remote_addr", text(&request.remote_addr)),
        ("trace_id", text(&request.trace_id)),
        ("tenant", text(&request.tenant)),
        ("probe_header", request.header("x-PROBE").into()),
        ("absent_header", request.header("X-Absent").into()),
        ("q", request.query_param("q").into()),
        ("absent_query", request.query_param("Q").into()),
        ("probe_headers", Json::array(request.header_values("x-probe").into_iter().map(text))),
        ("headers", pairs(&request.headers)),
        ("query", pairs(&request.query)),
    ]);
    Response::json(200, &seen)
}

/// ?op=get|set|delete|list&key=K (the body is the value to set). Answers the status's name in
/// X-Status, and the value, the keys as JSON, or the host's error message in the body.
fn key_value(request: &Request) -> Response {
    let (op, key) = match (request.query_param("op"), request.query_param("key")) {
        (Some(op), Some(key)) => (op, key),
        _ => return Response::new(400).body("op and key, please"),
    };
    let result: Result<Vec<u8>, Error> = match op {
        "get" => kv::get(key),
        "set" => kv::set(key, &request.body).map(|_| Vec::new()),
        "delete" => kv::delete(key).map(|_| Vec::new()),
        "list" => kv::list(key)
            .map(|keys| Json::array(keys.into_iter().map(Json::from)).to_string().into_bytes()),
        _ => return Response::new(400).body("no such op"),
    };
    let (status, body) = match result {
        Ok(body) => ("OK".to_string(), body),
        Err(error) => (format!("{:?}", error.code), error.message.into_bytes()),
    };
    Response::new(200)
        .header("X-Status", status)
        .header("Content-Type", "application/octet-stream")
        .body(body)
}

fn main() {
    pyjinn::run(handle);
}
