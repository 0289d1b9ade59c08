//! guestbook: a guest book on SQL, written with the Rust SDK (sdk/rust).
//!
//!     GET  /guestbook             the latest 50 entries, newest first, as JSON
//!     POST /guestbook?name=NAME   add the request body as a message from NAME
//!
//! Every call is one statement with bound parameters, against a SQLite database of the
//! tenant's own (the Caddyfile grants `db write`). Host errors become HTTP statuses, with the
//! host's message in a JSON body: {"error": "..."}.
use pyjinn::{db, Error, ErrorCode, Json, Request, Response};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS entries \
    (id INTEGER PRIMARY KEY, name TEXT NOT NULL, message TEXT NOT NULL)";
const MAX_MESSAGE: usize = 1000;

fn handle(request: Request) -> Response {
    let answer = match request.method.as_str() {
        "GET" => list(),
        "POST" => add(&request),
        _ => return failure(405, "use GET or POST"),
    };
    answer.unwrap_or_else(|error| failure(http_status(&error), &error.message))
}

fn list() -> pyjinn::Result<Response> {
    db::exec(SCHEMA, &[])?;
    let sql = "SELECT id, name, message FROM entries ORDER BY id DESC LIMIT 50";
    let found = db::query(sql, &[])?;
    let entries =
        found.rows.into_iter().map(|row| Json::object(found.columns.iter().cloned().zip(row)));
    Ok(Response::json(200, &Json::array(entries)))
}

fn add(request: &Request) -> pyjinn::Result<Response> {
    let message = match request.body_text().map(str::trim) {
        Some(text) if !text.is_empty() && text.chars().count() <= MAX_MESSAGE => text,
        _ => return Ok(failure(400, "the body must be a message of 1 to 1000 characters")),
    };
    let name = request.query_param("name").filter(|name| !name.is_empty()).unwrap_or("anonymous");
    db::exec(SCHEMA, &[])?;
    let sql = "INSERT INTO entries (name, message) VALUES (?, ?)";
    let done = db::exec(sql, &[name.into(), message.into()])?;
    pyjinn::log::info(&format!("guestbook: entry {:?} from {name}", done.last_insert_id));
    Ok(Response::json(201, &Json::object(vec![("id", done.last_insert_id.into())])))
}

fn http_status(error: &Error) -> u16 {
    match error.code {
        ErrorCode::NotFound => 404,
        ErrorCode::Denied => 403,
        ErrorCode::Invalid => 400,
        ErrorCode::Unavailable => 503,
        ErrorCode::Limit => 413,
        _ => 500, // Internal, and codes of calls this function does not make
    }
}

fn failure(status: u16, message: &str) -> Response {
    Response::json(status, &Json::object(vec![("error", message.into())]))
}

fn main() {
    pyjinn::run(handle);
}
