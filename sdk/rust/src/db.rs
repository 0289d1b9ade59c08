//! SQL: one statement per call, in a transaction of its own, against the tenant's database.
//!
//! Parameters are bound by the engine, never formatted into the SQL; placeholders are the
//! engine's own (`?` for SQLite and libSQL, `$1` for PostgreSQL). Values are [`Json`]: give
//! bytes as [`Json::bytes`], and read them back with [`Json::as_bytes`].
//!
//! ```no_run
//! use pyjinn::{db, Json};
//! let rows = db::query("SELECT title FROM notes WHERE id = ?", &[Json::from(7)])?;
//! for row in &rows.rows {
//!     println!("{}", row[0].as_str().unwrap_or(""));
//! }
//! # Ok::<(), pyjinn::Error>(())
//! ```

use crate::abi::{self, address, length};
use crate::error::{take_result, Error, Result};
use crate::json::Json;

/// What a query returns: the column names and the rows, each a value per column.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Json>>,
}

/// What a statement that changes data did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exec {
    pub rows_affected: u64,
    /// The rowid of the last row inserted, where the engine reports one.
    pub last_insert_id: Option<i64>,
}

/// Run one statement (needs `permissions { db read }` or `db write`); the rows it returns.
pub fn query(sql: &str, params: &[Json]) -> Result<Rows> {
    let json = query_json(sql, params)?;
    let columns = json.get("columns").and_then(Json::as_array);
    let columns: Option<Vec<String>> =
        columns.and_then(|items| items.iter().map(|c| c.as_str().map(String::from)).collect());
    let rows: Option<Vec<Vec<Json>>> = json
        .get("rows")
        .and_then(Json::as_array)
        .and_then(|rows| rows.iter().map(|row| row.as_array().map(<[Json]>::to_vec)).collect());
    match (columns, rows) {
        (Some(columns), Some(rows)) => Ok(Rows { columns, rows }),
        _ => Err(malformed("db_query")),
    }
}

/// Run one statement that changes data (needs `permissions { db write }`).
pub fn exec(sql: &str, params: &[Json]) -> Result<Exec> {
    let json = exec_json(sql, params)?;
    let rows_affected = json.get("rows_affected").and_then(Json::as_u64);
    let last_insert_id = match json.get("last_insert_id") {
        Some(Json::Null) | None => Some(None),
        Some(value) => value.as_i64().map(Some),
    };
    match (rows_affected, last_insert_id) {
        (Some(rows_affected), Some(last_insert_id)) => Ok(Exec { rows_affected, last_insert_id }),
        _ => Err(malformed("db_exec")),
    }
}

/// [`query`], returning the host's JSON as it came: `{"columns": [...], "rows": [[...]]}`.
pub fn query_json(sql: &str, params: &[Json]) -> Result<Json> {
    call("db_query", sql, params, |a, b, c, d| unsafe { abi::db_query(a, b, c, d) })
}

/// [`exec`], returning the host's JSON: `{"rows_affected": N, "last_insert_id": N or null}`.
pub fn exec_json(sql: &str, params: &[Json]) -> Result<Json> {
    call("db_exec", sql, params, |a, b, c, d| unsafe { abi::db_exec(a, b, c, d) })
}

/// Call `raw` with the SQL and the parameters as a JSON array ("" for none).
fn call<F>(name: &str, sql: &str, params: &[Json], raw: F) -> Result<Json>
where
    F: FnOnce(i32, i32, i32, i32) -> i64,
{
    let params = match params {
        [] => String::new(),
        _ => Json::array(params.to_vec()).to_string(),
    };
    let (sql, params) = (sql.as_bytes(), params.as_bytes());
    let result = raw(address(sql), length(sql), address(params), length(params));
    Json::parse_bytes(&take_result(result)?).map_err(|_| malformed(name))
}

fn malformed(name: &str) -> Error {
    Error::internal(format!("{name}: the host sent a result this SDK cannot read"))
}
