"""The SDKs' SQL and object storage wrappers inside pyjinn, against SQLite and the embedded
object store: each SDK's program makes a table, writes and reads a row, and puts, gets, lists
and deletes an object, then answers with what the host returned."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pyjinn.server.app import PyjinnApp
from tests.sdk.support import build_assemblyscript, build_c, build_go, build_rust, build_zig

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

C_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

static void add(pyjinn_buffer *out, const char *name, int status, const char *json) {
    char number[32];
    snprintf(number, sizeof number, "%d", status);
    pyjinn_buffer_append_text(out, out->length ? ",\"" : "{\"");
    pyjinn_buffer_append_text(out, name);
    pyjinn_buffer_append_text(out, "\":[");
    pyjinn_buffer_append_text(out, number);
    pyjinn_buffer_append_text(out, ",");
    pyjinn_buffer_append_text(out, status == PYJINN_OK && json ? json : "null");
    pyjinn_buffer_append_text(out, "]");
}

int main(void) {
    pyjinn_buffer out = {0};
    char *json = NULL, *data = NULL;
    size_t length;
    int status;

    status = pyjinn_db_exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)", NULL,
                            &json, &length);
    add(&out, "create", status, json);
    status = pyjinn_db_exec("INSERT INTO notes (title) VALUES (?)", "[\"from the SDK\"]", &json,
                            &length);
    add(&out, "insert", status, json);
    status = pyjinn_db_query("SELECT id, title FROM notes", "", &json, &length);
    add(&out, "select", status, json);

    status = pyjinn_blob_put("photos/sdk.txt", "hi\0there", 8);
    add(&out, "put", status, NULL);
    status = pyjinn_blob_get("photos/sdk.txt", &data, &length);
    add(&out, "get_length", status, status == PYJINN_OK && length == 8 ? "8" : "0");
    status = pyjinn_blob_list("photos/", &json, &length);
    add(&out, "list", status, json);
    status = pyjinn_blob_delete("photos/sdk.txt");
    add(&out, "delete", status, NULL);
    status = pyjinn_blob_get("photos/sdk.txt", &data, &length);
    add(&out, "missing", status, NULL);
    pyjinn_buffer_append_text(&out, "}");
    return pyjinn_respond_text(200, "application/json", out.data) == PYJINN_OK ? 0 : 1;
}
"""

ZIG_PROGRAM = r"""
const std = @import("std");
const pyjinn = @import("pyjinn");

fn code(err: pyjinn.KvError) i64 {
    return switch (err) {
        error.NotFound => -1, error.Denied => -2, error.Invalid => -3,
        error.Unavailable => -4, error.Limit => -5, else => -6,
    };
}

pub fn main(init: std.process.Init) !void {
    const arena = init.arena.allocator();
    var out: std.ArrayList(u8) = .empty;
    const table = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)";
    const create = try pyjinn.dbExec(arena, table, "");
    const row = "[\"from the SDK\"]";
    const insert = try pyjinn.dbExec(arena, "INSERT INTO notes (title) VALUES (?)", row);
    const select = try pyjinn.dbQuery(arena, "SELECT id, title FROM notes", "[]");
    try pyjinn.blobPut("photos/sdk.txt", "hi\x00there");
    const data = try pyjinn.blobGet(arena, "photos/sdk.txt");
    const listed = try pyjinn.blobList(arena, "photos/");
    try pyjinn.blobDelete("photos/sdk.txt");
    const missing: i64 = if (pyjinn.blobGet(arena, "photos/sdk.txt")) |_| 0 else |err| code(err);
    try out.print(arena,
        "{{\"create\":[0,{s}],\"insert\":[0,{s}],\"select\":[0,{s}],\"put\":[0,null]," ++
        "\"get_length\":[0,{d}],\"list\":[0,[{{\"key\":\"{s}\",\"size\":{d}}}]]," ++
        "\"delete\":[0,null],\"missing\":[{d},null]}}",
        .{ create, insert, select, data.len, listed[0].key, listed[0].size, missing });
    const header: pyjinn.Header = .{ .name = "Content-Type", .value = "application/json" };
    try pyjinn.respond(init.io, 200, &.{header}, out.items);
}
"""

RUST_PROGRAM = r"""
use pyjinn::{blob, db, Json, Response};

fn code(result: pyjinn::Result<Vec<u8>>) -> i32 {
    result.map_or_else(|error| error.code.value(), |_| 0)
}

fn handle() -> pyjinn::Result<Json> {
    let table = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)";
    let create = db::exec_json(table, &[])?;
    let insert = db::exec("INSERT INTO notes (title) VALUES (?)", &["from the SDK".into()])?;
    let select = db::query("SELECT id, title FROM notes", &[])?;
    blob::put("photos/sdk.txt", b"hi\0there")?;
    let data = blob::get("photos/sdk.txt")?;
    let listed = blob::list("photos/")?;
    blob::delete("photos/sdk.txt")?;
    let missing = code(blob::get("photos/sdk.txt"));
    let ok = |value: Json| Json::array(vec![0.into(), value]);
    let rows = select.rows.into_iter().map(Json::Array);
    Ok(Json::object(vec![
        ("create", ok(create)),
        ("insert", ok(Json::object(vec![
            ("rows_affected", insert.rows_affected.into()),
            ("last_insert_id", insert.last_insert_id.into()),
        ]))),
        ("select", ok(Json::object(vec![
            ("columns", Json::array(select.columns.into_iter().map(Json::from))),
            ("rows", Json::array(rows)),
        ]))),
        ("put", ok(Json::Null)),
        ("get_length", ok(data.len().into())),
        ("list", ok(Json::array(listed.into_iter().map(|item| {
            Json::object(vec![("key", item.key.into()), ("size", item.size.into())])
        })))),
        ("delete", ok(Json::Null)),
        ("missing", Json::array(vec![missing.into(), Json::Null])),
    ]))
}

fn main() {
    pyjinn::run(|_| match handle() {
        Ok(json) => Response::json(200, &json),
        Err(error) => Response::text(500, error.to_string()),
    });
}
"""

GO_PROGRAM = r"""
package main

import (
	"encoding/json"
	"errors"

	"pyjinn"
)

func handle() (map[string]any, error) {
	create, err := pyjinn.DBExecJSON("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)")
	if err != nil {
		return nil, err
	}
	insert, err := pyjinn.DBExec("INSERT INTO notes (title) VALUES (?)", "from the SDK")
	if err != nil {
		return nil, err
	}
	selected, err := pyjinn.DBQuery("SELECT id, title FROM notes")
	if err != nil {
		return nil, err
	}
	if err := pyjinn.BlobPut("photos/sdk.txt", []byte("hi\x00there")); err != nil {
		return nil, err
	}
	data, err := pyjinn.BlobGet("photos/sdk.txt")
	if err != nil {
		return nil, err
	}
	listed, err := pyjinn.BlobList("photos/")
	if err != nil {
		return nil, err
	}
	if err := pyjinn.BlobDelete("photos/sdk.txt"); err != nil {
		return nil, err
	}
	missing := 0
	if _, err := pyjinn.BlobGet("photos/sdk.txt"); errors.Is(err, pyjinn.ErrNotFound) {
		missing = int(pyjinn.NotFound)
	}
	return map[string]any{
		"create":     []any{0, json.RawMessage(create)},
		"insert":     []any{0, insert},
		"select":     []any{0, selected},
		"put":        []any{0, nil},
		"get_length": []any{0, len(data)},
		"list":       []any{0, listed},
		"delete":     []any{0, nil},
		"missing":    []any{missing, nil},
	}, nil
}

func main() {
	pyjinn.Run(func(pyjinn.Request) pyjinn.Response {
		result, err := handle()
		if err != nil {
			return pyjinn.Text(500, err.Error())
		}
		return pyjinn.JSON(200, result)
	})
}
"""

PYTHON_PROGRAM = r"""
from pyjinn_guest import NotFound, Response, blob_delete, blob_get, blob_list, blob_put
from pyjinn_guest import db_exec, db_query


def handle(request):
    out = {
        "create": [0, db_exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)")],
        "insert": [0, db_exec("INSERT INTO notes (title) VALUES (?)", ["from the SDK"])],
        "select": [0, db_query("SELECT id, title FROM notes", [])],
    }
    blob_put("photos/sdk.txt", b"hi\x00there")
    out["put"] = [0, None]
    out["get_length"] = [0, len(blob_get("photos/sdk.txt"))]
    out["list"] = [0, blob_list("photos/")]
    blob_delete("photos/sdk.txt")
    out["delete"] = [0, None]
    try:
        blob_get("photos/sdk.txt")
    except NotFound as missing:
        out["missing"] = [int(missing.code), None]
    return Response.json(out)
"""

ASSEMBLYSCRIPT_PROGRAM = r"""
import {
  Result, blobDelete, blobGet, blobList, blobPut, dbExec, dbQuery, respondText,
} from "./pyjinn";

function add(out: string[], name: string, status: i32, json: string | null): void {
  out.push("\"" + name + "\":[" + status.toString() + "," + (json !== null ? json : "null") + "]");
}

function text(result: Result): string | null {
  return result.ok ? result.text() : null;
}

const out = new Array<string>(0);
const create = dbExec("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)");
add(out, "create", create.status, text(create));
const insert = dbExec("INSERT INTO notes (title) VALUES (?)", "[\"from the SDK\"]");
add(out, "insert", insert.status, text(insert));
const select = dbQuery("SELECT id, title FROM notes", "[]");
add(out, "select", select.status, text(select));
const data = new Uint8Array(8);
data.set([104, 105, 0, 116, 104, 101, 114, 101]);
add(out, "put", blobPut("photos/sdk.txt", data.buffer), null);
const got = blobGet("photos/sdk.txt");
add(out, "get_length", got.status, got.data.byteLength.toString());
const listed = blobList("photos/");
add(out, "list", listed.status, text(listed));
add(out, "delete", blobDelete("photos/sdk.txt"), null);
add(out, "missing", blobGet("photos/sdk.txt").status, null);
respondText(200, "application/json", "{" + out.join(",") + "}");
"""

EXPECTED = {
    "create": [0, {"rows_affected": 0, "last_insert_id": None}],
    "insert": [0, {"rows_affected": 1, "last_insert_id": 1}],
    "select": [0, {"columns": ["id", "title"], "rows": [[1, "from the SDK"]]}],
    "put": [0, None],
    "get_length": [0, 8],
    "list": [0, [{"key": "photos/sdk.txt", "size": 8}]],
    "delete": [0, None],
    "missing": [-1, None],
}


BUILDERS = {
    "c": lambda: build_c(C_PROGRAM),
    "zig": lambda: build_zig(ZIG_PROGRAM),
    "rust": lambda: build_rust(RUST_PROGRAM),
    "go": lambda: build_go(GO_PROGRAM),
    "assemblyscript": lambda: build_assemblyscript(ASSEMBLYSCRIPT_PROGRAM),
}


@pytest.mark.parametrize("language", [*BUILDERS, "python"])
async def test_the_sdk_wrappers_reach_sql_and_object_storage(
    make_runtime, project, language: str, request: pytest.FixtureRequest
) -> None:
    loader = None
    if language == "python":
        loader = request.getfixturevalue("python_loader")
        name = project("fn.py", PYTHON_PROGRAM).name
    else:
        module: Path = BUILDERS[language]()
        name = project("fn.wasm", module).name
    runtime = make_runtime(
        f":8080 {{\n pyjinn {name} {{\n db_driver sqlite\n s3_bucket media\n"
        " permissions {\n db write\n blob_read photos\n blob_write photos\n }\n }\n}\n",
        loader=loader,
    )
    transport = httpx.ASGITransport(app=PyjinnApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/")
    assert response.status_code == 200, response.text
    assert json.loads(response.text) == EXPECTED
