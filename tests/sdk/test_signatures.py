"""The SDKs bind the host ABI exactly as pyjinn/abi.py defines it: one source of truth.

For each SDK (C, Zig, Rust, Go), a program that calls every host function (through the SDK's
wrappers and its raw bindings) is compiled, and the ``pyjinn`` imports of the resulting module
are compared with ``pyjinn.abi.FUNCTIONS``: the same names, the same parameter and result types,
none missing and none extra. A binding that drifts from the table, or a function the SDK forgot,
fails here.
"""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from pyjinn.abi import FUNCTIONS, PYJINN, Arg, HostFunction, Returns
from tests.sdk.support import build_assemblyscript, build_go, build_rust

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
C_SDK = ROOT / "sdk" / "c"
ZIG_SDK = ROOT / "sdk" / "zig" / "pyjinn.zig"
PYTHON_SDK = ROOT / "sdk" / "python" / "pyjinn_guest.py"
_CACHE = ROOT / ".pytest_cache" / "sdk"

ABI = {function.name: function for function in FUNCTIONS if function.module == PYJINN}

C_PROGRAM = r"""
#include <stdlib.h>

#include "pyjinn.h"

int main(void) {
    char *value, **keys, *message;
    size_t length, count;
    static char buffer[64];

    /* The SDK's wrappers. */
    pyjinn_log(PYJINN_INFO, "signatures");
    pyjinn_log_bytes(PYJINN_DEBUG, "signatures", 10);
    pyjinn_kv_set("notes/a", "v", 1);
    if (pyjinn_kv_get("notes/a", &value, &length) == PYJINN_OK) free(value);
    pyjinn_kv_delete("notes/a");
    if (pyjinn_kv_list("notes/", &keys, &count) == PYJINN_OK) free(keys);
    if (pyjinn_db_query("SELECT 1", NULL, &value, &length) == PYJINN_OK) free(value);
    if (pyjinn_db_exec("DELETE FROM t", "[]", &value, &length) == PYJINN_OK) free(value);
    pyjinn_blob_put("photos/a", "v", 1);
    if (pyjinn_blob_get("photos/a", &value, &length) == PYJINN_OK) free(value);
    pyjinn_blob_delete("photos/a");
    if (pyjinn_blob_list("photos/", &value, &length) == PYJINN_OK) free(value);
    if (pyjinn_job_enqueue("report", "{}", 2, NULL, &value) == PYJINN_OK) free(value);
    if (pyjinn_ai_chat("{}", &value, &length) == PYJINN_OK) free(value);
    if (pyjinn_ai_embed("[]", &value, &length) == PYJINN_OK) free(value);
    pyjinn_http_response response;
    if (pyjinn_http_request("GET", "http://a.test/", NULL, NULL, 0, &response) == PYJINN_OK)
        free(response.block);
    if (pyjinn_lock_acquire("jobs/a", 30, 0, &value) == PYJINN_OK) {
        pyjinn_lock_release("jobs/a", value);
        free(value);
    }
    pyjinn_ws_message received;
    if (pyjinn_ws_upgrade() == PYJINN_OK && pyjinn_ws_read(-1, &received) == PYJINN_OK) {
        pyjinn_ws_write(received.opcode, received.data, received.length);
        free(received.data);
    }
    pyjinn_ws_write_text("text");
    pyjinn_ws_close(1000, "done");
    message = pyjinn_last_error();
    free(message);

    /* The raw bindings, each called directly. */
    int32_t at = PYJINN_ADDRESS(buffer);
    pyjinn_abi_log(1, at, 1);
    long long data = pyjinn_abi_kv_get(at, 1) + pyjinn_abi_kv_list(at, 0);
    int32_t status = pyjinn_abi_result_read(at, sizeof buffer) + pyjinn_abi_error_read(at, 0) +
                     pyjinn_abi_kv_set(at, 1, at, 1) + pyjinn_abi_kv_delete(at, 1);
    data += pyjinn_abi_db_query(at, 1, at, 0) + pyjinn_abi_db_exec(at, 1, at, 0) +
            pyjinn_abi_blob_get(at, 1) + pyjinn_abi_blob_list(at, 0) +
            pyjinn_abi_job_enqueue(at, 1, at, 0, at, 0);
    status += pyjinn_abi_blob_put(at, 1, at, 1) + pyjinn_abi_blob_delete(at, 1);
    data += pyjinn_abi_ai_chat(at, 1) + pyjinn_abi_ai_embed(at, 1) + pyjinn_abi_ws_read(-1);
    data += pyjinn_abi_http_request(at, 1, at, 1, at, 0, at, 0) +
            pyjinn_abi_lock_acquire(at, 1, 30, 0);
    status += pyjinn_abi_lock_release(at, 1, at, 1);
    status += pyjinn_abi_ws_upgrade() + pyjinn_abi_ws_write(1, at, 1) +
              pyjinn_abi_ws_close(1000, at, 0);
    return (int)(data + status) & 1;
}
"""

ZIG_PROGRAM = r"""
const std = @import("std");
const pyjinn = @import("pyjinn");

pub fn main(init: std.process.Init) !void {
    const arena = init.arena.allocator();

    // The SDK's wrappers.
    pyjinn.log(.info, "signatures");
    pyjinn.kvSet("notes/a", "v") catch {};
    _ = pyjinn.kvGet(arena, "notes/a") catch null;
    pyjinn.kvDelete("notes/a") catch {};
    _ = pyjinn.kvList(arena, "notes/") catch null;
    _ = pyjinn.dbQuery(arena, "SELECT 1", "") catch null;
    _ = pyjinn.dbExec(arena, "DELETE FROM t", "[]") catch null;
    pyjinn.blobPut("photos/a", "v") catch {};
    _ = pyjinn.blobGet(arena, "photos/a") catch null;
    pyjinn.blobDelete("photos/a") catch {};
    _ = pyjinn.blobList(arena, "photos/") catch null;
    _ = pyjinn.jobEnqueue(arena, "report", "{}", "") catch null;
    _ = pyjinn.aiChat(arena, "{}") catch null;
    _ = pyjinn.aiEmbed(arena, "[]") catch null;
    _ = pyjinn.httpRequest(arena, "GET", "http://a.test/", "", "") catch null;
    if (pyjinn.lockAcquire(arena, "jobs/a", 30, 0)) |token| {
        pyjinn.lockRelease("jobs/a", token) catch {};
    } else |_| {}
    pyjinn.wsUpgrade() catch {};
    if (pyjinn.wsRead(arena, -1)) |message| {
        pyjinn.wsWrite(message.opcode, message.data) catch {};
    } else |_| {}
    pyjinn.wsClose(1000, "done") catch {};
    _ = try pyjinn.lastError(arena);

    // The raw bindings, each called directly.
    var buffer: [64]u8 = undefined;
    const at = pyjinn.abi.address(&buffer);
    pyjinn.abi.log(1, at, 1);
    const data = pyjinn.abi.kv_get(at, 1) + pyjinn.abi.kv_list(at, 0);
    const status = pyjinn.abi.result_read(at, 64) +% pyjinn.abi.error_read(at, 0) +%
        pyjinn.abi.kv_set(at, 1, at, 1) +% pyjinn.abi.kv_delete(at, 1) +%
        pyjinn.abi.blob_put(at, 1, at, 1) +% pyjinn.abi.blob_delete(at, 1);
    const more = pyjinn.abi.db_query(at, 1, at, 0) +% pyjinn.abi.db_exec(at, 1, at, 0) +%
        pyjinn.abi.blob_get(at, 1) +% pyjinn.abi.blob_list(at, 0) +%
        pyjinn.abi.job_enqueue(at, 1, at, 0, at, 0);
    if (more == 1) std.process.exit(1);
    const ai = pyjinn.abi.ai_chat(at, 1) +% pyjinn.abi.ai_embed(at, 1);
    if (ai == 1) std.process.exit(1);
    const outbound = pyjinn.abi.http_request(at, 1, at, 1, at, 0, at, 0) +%
        pyjinn.abi.lock_acquire(at, 1, 30, 0) +% pyjinn.abi.lock_release(at, 1, at, 1);
    if (outbound == 1) std.process.exit(1);
    const ws = pyjinn.abi.ws_read(-1) +% pyjinn.abi.ws_upgrade() +% pyjinn.abi.ws_write(1, at, 1) +%
        pyjinn.abi.ws_close(1000, at, 0);
    if (ws == 1) std.process.exit(1);
    if (data +% status == 1) std.process.exit(1);
}
"""


RUST_PROGRAM = r"""
use pyjinn::{abi, ai, blob, db, http, jobs, kv, lock, log, ws, Json};

fn main() {
    // The SDK's wrappers.
    log::info("signatures");
    log::write(log::Level::Debug, "signatures");
    let _ = kv::set("notes/a", b"v");
    let _ = kv::get("notes/a");
    let _ = kv::delete("notes/a");
    let _ = kv::list("notes/");
    let _ = db::query("SELECT ?", &[Json::from(1)]);
    let _ = db::exec("DELETE FROM t", &[]);
    let _ = blob::put("photos/a", b"v");
    let _ = blob::get("photos/a");
    let _ = blob::delete("photos/a");
    let _ = blob::list("photos/");
    let _ = jobs::enqueue("report", b"{}", "");
    let _ = ai::chat(&Json::from(1));
    let _ = ai::embed(&Json::from(1));
    let _ = http::request("GET", "http://a.test/", None, b"");
    if let Ok(token) = lock::acquire("jobs/a", 30, 0) {
        let _ = lock::release("jobs/a", &token);
    }
    if ws::upgrade().is_ok() {
        if let Ok(ws::Message::Binary(data)) = ws::read(None) {
            let _ = ws::send_binary(&data);
        }
    }
    let _ = ws::send_text("text");
    let _ = ws::close(1000, "done");
    let _ = pyjinn::last_error();

    // The raw bindings, each called directly.
    let buffer = [0u8; 64];
    let at = abi::address(&buffer);
    unsafe {
        abi::log(1, at, 1);
        let data = abi::kv_get(at, 1) + abi::kv_list(at, 0) + abi::db_query(at, 1, at, 0)
            + abi::db_exec(at, 1, at, 0) + abi::blob_get(at, 1) + abi::blob_list(at, 0)
            + abi::job_enqueue(at, 1, at, 0, at, 0) + abi::ai_chat(at, 1) + abi::ai_embed(at, 1)
            + abi::http_request(at, 1, at, 1, at, 0, at, 0) + abi::lock_acquire(at, 1, 30, 0);
        let status = abi::result_read(at, 64) + abi::error_read(at, 0) + abi::kv_set(at, 1, at, 1)
            + abi::kv_delete(at, 1) + abi::blob_put(at, 1, at, 1) + abi::blob_delete(at, 1)
            + abi::lock_release(at, 1, at, 1);
        let ws = abi::ws_read(-1)
            + i64::from(abi::ws_upgrade() + abi::ws_write(1, at, 1) + abi::ws_close(1000, at, 0));
        std::process::exit(((data + ws + i64::from(status)) & 1) as i32);
    }
}
"""

GO_PROGRAM = r"""
package main

import (
	"os"
	"unsafe"

	"pyjinn"
	"pyjinn/abi"
)

func main() {
	// The SDK's wrappers.
	pyjinn.Log(pyjinn.LevelInfo, "signatures")
	pyjinn.KVSet("notes/a", []byte("v"))
	pyjinn.KVGet("notes/a")
	pyjinn.KVDelete("notes/a")
	pyjinn.KVList("notes/")
	pyjinn.DBQuery("SELECT ?", 1)
	pyjinn.DBExec("DELETE FROM t")
	pyjinn.BlobPut("photos/a", []byte("v"))
	pyjinn.BlobGet("photos/a")
	pyjinn.BlobDelete("photos/a")
	pyjinn.BlobList("photos/")
	pyjinn.JobEnqueue("report", []byte("{}"), "")
	pyjinn.AIChat([]byte("{}"))
	pyjinn.AIEmbed([]byte("[]"))
	pyjinn.HTTPRequest("GET", "http://a.test/", nil, nil)
	if token, err := pyjinn.LockAcquire("jobs/a", 30, 0); err == nil {
		pyjinn.LockRelease("jobs/a", token)
	}
	if pyjinn.WSUpgrade() == nil {
		if message, err := pyjinn.WSRead(-1); err == nil {
			pyjinn.WSWrite(message.Opcode, message.Data)
		}
	}
	pyjinn.WSWriteText("text")
	pyjinn.WSClose(1000, "done")
	pyjinn.LastError()

	// The raw bindings, each called directly.
	buffer := make([]byte, 64)
	at := unsafe.Pointer(&buffer[0])
	abi.Log(1, at, 1)
	data := abi.KVGet(at, 1) + abi.KVList(at, 0) + abi.DBQuery(at, 1, at, 0) +
		abi.DBExec(at, 1, at, 0) + abi.BlobGet(at, 1) + abi.BlobList(at, 0) +
		abi.JobEnqueue(at, 1, at, 0, at, 0) + abi.AIChat(at, 1) + abi.AIEmbed(at, 1) +
		abi.HTTPRequest(at, 1, at, 1, at, 0, at, 0) + abi.LockAcquire(at, 1, 30, 0)
	status := abi.ResultRead(at, 64) + abi.ErrorRead(at, 0) + abi.KVSet(at, 1, at, 1) +
		abi.KVDelete(at, 1) + abi.BlobPut(at, 1, at, 1) + abi.BlobDelete(at, 1) +
		abi.LockRelease(at, 1, at, 1)
	ws := abi.WSRead(-1) + int64(abi.WSUpgrade()+abi.WSWrite(1, at, 1)+abi.WSClose(1000, at, 0))
	os.Exit(int((data + ws + int64(status)) & 1))
}
"""

ASSEMBLYSCRIPT_PROGRAM = r"""
import {
  abi_blob_delete, abi_blob_get, abi_blob_list, abi_blob_put, abi_db_exec, abi_db_query,
  abi_error_read, abi_kv_delete, abi_kv_get, abi_kv_list, abi_kv_set, abi_log, abi_result_read,
  abi_job_enqueue, abi_ai_chat, abi_ai_embed, abi_http_request, abi_lock_acquire,
  abi_lock_release, abi_ws_close, abi_ws_read, abi_ws_upgrade, abi_ws_write,
  address, aiChat, aiEmbed, blobDelete, blobGet, blobList, blobPut, dbExec, dbQuery, jobEnqueue,
  httpRequest, kvDelete, kvGet, kvList, kvSetText, lastError, lockAcquire, lockRelease, log,
  Level, Status, wsClose, wsRead, wsUpgrade, wsWrite, wsWriteText,
} from "./pyjinn";

// The SDK's wrappers.
log(Level.INFO, "signatures");
kvSetText("notes/a", "v");
kvGet("notes/a");
kvDelete("notes/a");
kvList("notes/");
dbQuery("SELECT 1");
dbExec("DELETE FROM t", "[]");
blobPut("photos/a", String.UTF8.encode("v"));
blobGet("photos/a");
blobDelete("photos/a");
blobList("photos/");
jobEnqueue("report", new ArrayBuffer(0));
aiChat("{}");
aiEmbed("[]");
httpRequest("GET", "http://a.test/");
const lock = lockAcquire("jobs/a", 30);
if (lock.ok) lockRelease("jobs/a", lock.text());
if (wsUpgrade() == Status.OK) {
  const message = wsRead(-1);
  if (message.ok) wsWrite(message.opcode, message.data);
}
wsWriteText("text");
wsClose(1000, "done");
lastError();

// The raw bindings, each called directly.
const at = address(new ArrayBuffer(64));
abi_log(1, at, 1);
const data = abi_kv_get(at, 1) + abi_kv_list(at, 0) + abi_db_query(at, 1, at, 0) +
  abi_db_exec(at, 1, at, 0) + abi_blob_get(at, 1) + abi_blob_list(at, 0) +
  abi_job_enqueue(at, 1, at, 0, at, 0) + abi_ai_chat(at, 1) + abi_ai_embed(at, 1) +
  abi_http_request(at, 1, at, 1, at, 0, at, 0) + abi_lock_acquire(at, 1, 30, 0);
const status = abi_result_read(at, 64) + abi_error_read(at, 0) + abi_kv_set(at, 1, at, 1) +
  abi_kv_delete(at, 1) + abi_blob_put(at, 1, at, 1) + abi_blob_delete(at, 1) +
  abi_lock_release(at, 1, at, 1);
const ws = abi_ws_read(-1) +
  <i64>(abi_ws_upgrade() + abi_ws_write(1, at, 1) + abi_ws_close(1000, at, 0));
if (data + ws + <i64>status == 1) process.exit(1);
"""


def _compile(language: str, source: str, command: list[str]) -> Path:
    sdk_files = [C_SDK / "pyjinn.h", C_SDK / "pyjinn.c", ZIG_SDK]
    digest = hashlib.sha256(
        source.encode() + b"".join(path.read_bytes() for path in sdk_files)
    ).hexdigest()[:16]
    output = _CACHE / f"signatures-{language}-{digest}.wasm"
    if output.exists():
        return output
    work = _CACHE / f"signatures-{language}-{digest}"
    work.mkdir(parents=True, exist_ok=True)
    main = work / ("main.c" if language == "c" else "main.zig")
    main.write_text(source)
    partial = work / f"out.{os.getpid()}.wasm"
    full = [sys.executable, "-m", "ziglang", *command]
    full = [part.replace("{output}", str(partial)) for part in full]
    compiled = subprocess.run(full, cwd=work, capture_output=True, text=True, check=False)
    assert compiled.returncode == 0, compiled.stderr
    os.replace(partial, output)
    return output


def build(language: str) -> Path:
    if language == "rust":
        return build_rust(RUST_PROGRAM)
    if language == "go":
        return build_go(GO_PROGRAM)
    if language == "c":
        command = ["cc", "--target=wasm32-wasi", "-Os", "-s", "-Wall", "-Werror"]
        command += ["-I", str(C_SDK), "-o", "{output}", "main.c", str(C_SDK / "pyjinn.c")]
        return _compile("c", C_PROGRAM, command)
    command = ["build-exe", "-target", "wasm32-wasi", "-O", "ReleaseSmall", "-femit-bin={output}"]
    command += ["--dep", "pyjinn", "-Mroot=main.zig", f"-Mpyjinn={ZIG_SDK}"]
    return _compile("zig", ZIG_PROGRAM, command)


Signature = tuple[tuple[str, ...], tuple[str, ...]]


def pyjinn_imports(module_path: Path) -> dict[str, Signature]:
    """The module's imports from ``pyjinn``: name -> (params, results) as wasm type names."""
    module = wasmtime.Module(wasmtime.Engine(), module_path.read_bytes())
    imports: dict[str, Signature] = {}
    for item in module.imports:
        if item.module != PYJINN:
            continue
        assert isinstance(item.type, wasmtime.FuncType), f"pyjinn.{item.name} is not a function"
        assert item.name not in imports, f"pyjinn.{item.name} is imported twice"
        params = tuple(str(kind) for kind in item.type.params)
        results = tuple(str(kind) for kind in item.type.results)
        imports[item.name] = (params, results)
    return imports


def python_sdk_imports() -> dict[str, Signature]:
    """What the Python SDK's frames carry for each function (sdk/python/pyjinn_guest.py's
    FUNCTIONS, read without running it), as the wasm signature a compiled guest would import:
    the bridge (pyjinn/interpreters/bridge.py) decodes frames by pyjinn/abi.py, so a kind the
    SDK encodes differently from the table shows here as a different signature."""
    tree = ast.parse(PYTHON_SDK.read_text())
    table = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "FUNCTIONS"
    )
    declared = ast.literal_eval(table)
    kinds = {kind.value[0]: kind for kind in Arg}
    results = {returns.value[0]: returns for returns in Returns}
    imports: dict[str, Signature] = {}
    for name, (arguments, result) in declared.items():
        params = tuple(param for tag in arguments for param in kinds[tag].params)
        imports[name] = (params, results[result].results)
    return imports


@pytest.fixture(scope="module", params=["c", "zig", "rust", "go", "python", "assemblyscript"])
def sdk_imports(request: pytest.FixtureRequest) -> dict[str, Signature]:
    if request.param == "python":
        return python_sdk_imports()
    if request.param == "assemblyscript":
        return pyjinn_imports(build_assemblyscript(ASSEMBLYSCRIPT_PROGRAM))
    return pyjinn_imports(build(request.param))


def test_the_table_has_pyjinn_functions_to_check() -> None:
    assert {"log", "result_read", "error_read", "kv_get", "kv_set"} <= set(ABI)


def test_sdk_imports_only_functions_of_the_abi(sdk_imports: dict[str, Signature]) -> None:
    unknown = sorted(set(sdk_imports) - set(ABI))
    assert not unknown, f"the SDK imports pyjinn functions the host does not define: {unknown}"


@pytest.mark.parametrize("function", ABI.values(), ids=list(ABI))
def test_sdk_imports_each_abi_function_with_its_exact_signature(
    sdk_imports: dict[str, Signature], function: HostFunction
) -> None:
    assert function.name in sdk_imports, f"the SDK does not bind pyjinn.{function.name}"
    assert sdk_imports[function.name] == (function.params, function.results), (
        f"pyjinn.{function.name}: the SDK's binding differs from pyjinn/abi.py"
    )
