"""Grants per host call: the ABI table names the grant each import needs; a module importing one
its function lacks is refused when it loads (and by ``pyjinn validate``), with the line that
grants it; the dispatcher still checks every call (the second lock)."""

from __future__ import annotations

import pytest

from pyjinn import abi
from pyjinn.abi import ErrorCode
from pyjinn.capabilities import grants
from pyjinn.config import loads
from pyjinn.config.model import Permissions
from pyjinn.errors import ModuleError
from pyjinn.runtime import Function, Runtime
from pyjinn.validate import validate_file
from tests.helpers import BLOB_IMPORTS, KV_IMPORTS, SQL_IMPORTS, abi_guest, call_abi_guest

pytestmark = pytest.mark.anyio

# What a function needs configured besides its permissions, for each grant to be accepted:
# global storage and model, which (unlike those in the function's own block) grant nothing.
STORAGE = (
    "db_driver sqlite\n\ts3_bucket media\n\tai_endpoint http://127.0.0.1:1/v1/chat/completions"
)


def importing(*names: str) -> str:
    """A WAT module importing host functions ``names`` ("module.name"), typed from the table."""
    lines = []
    for qualified in names:
        module, name = qualified.split(".")
        function = abi.BY_NAME[(module, name)]
        params = f"(param {' '.join(function.params)})" if function.params else ""
        results = f"(result {' '.join(function.results)})" if function.results else ""
        lines.append(f'(import "{module}" "{name}" (func {params} {results}))')
    exports = '(memory (export "memory") 1)\n(func (export "_start"))'
    return "(module\n" + "\n".join([*lines, exports]) + "\n)\n"


@pytest.fixture
def load_module(make_runtime, project):
    """``load_module(module, permissions)``: a runtime whose function ``fn`` runs WAT ``module``
    granted the ``permissions`` lines, with the module loaded (or the load's ModuleError)."""

    def load(module: str, permissions: str) -> Runtime:
        project("fn.wat", module)
        block = f"permissions {{\n{permissions}\n }}" if permissions else ""
        runtime = make_runtime(f":8080 {{\n pyjinn fn.wat {{\n {block}\n }}\n}}\n", STORAGE)
        runtime.functions["fn"].module  # noqa: B018 - loading is the point
        return runtime

    return load


def refusal(raised: pytest.ExceptionInfo[ModuleError]) -> str:
    return raised.value.reason


def test_a_kv_read_only_function_importing_kv_set_is_refused_at_load(load_module) -> None:
    with pytest.raises(ModuleError) as raised:
        load_module(importing("pyjinn.kv_get", "pyjinn.kv_set"), " kv_read users")
    assert refusal(raised) == (
        "imports 'pyjinn.kv_set', which needs the kv_write grant, but function 'fn' has no "
        "kv_write: add the line `kv_write NAMESPACE` to its permissions block"
    )


def test_a_db_read_only_function_importing_db_exec_is_refused_at_load(load_module) -> None:
    with pytest.raises(ModuleError) as raised:
        load_module(importing("pyjinn.db_query", "pyjinn.db_exec"), " db read")
    assert refusal(raised) == (
        "imports 'pyjinn.db_exec', which needs the db write grant, but function 'fn' has only "
        "db read: change that line of its permissions block to `db write`"
    )


def test_a_blob_read_only_function_importing_blob_put_is_refused_at_load(load_module) -> None:
    with pytest.raises(ModuleError) as raised:
        load_module(importing("pyjinn.blob_get", "pyjinn.blob_put"), " blob_read photos")
    assert refusal(raised) == (
        "imports 'pyjinn.blob_put', which needs the blob_write grant, but function 'fn' has no "
        "blob_write: add the line `blob_write NAMESPACE` to its permissions block"
    )


@pytest.mark.parametrize(
    ("imports", "permissions", "expected"),
    [
        (
            ("gojinn.host_kv_get", "gojinn.host_kv_set"),
            " kv_read users",
            "imports 'gojinn.host_kv_set', which needs the kv_write grant, but function 'fn' "
            "has no kv_write: add the line `kv_write NAMESPACE` to its permissions block",
        ),
        (
            ("gojinn.host_s3_put",),
            " s3_read media",  # Gojinn's spelling of blob_read
            "imports 'gojinn.host_s3_put', which needs the blob_write grant, but function 'fn' "
            "has no blob_write: add the line `blob_write NAMESPACE` to its permissions block",
        ),
        (
            ("gojinn.host_db_query",),
            " kv_read users",
            "imports 'gojinn.host_db_query', which needs the db read grant, but function 'fn' "
            "has no db grant: add the line `db read` to its permissions block",
        ),
    ],
)
def test_gojinn_imports_need_the_same_grants(
    load_module, imports: tuple[str, ...], permissions: str, expected: str
) -> None:
    with pytest.raises(ModuleError) as raised:
        load_module(importing(*imports), permissions)
    assert refusal(raised) == expected


def test_every_missing_grant_is_named_in_one_refusal(load_module) -> None:
    module = importing("pyjinn.kv_set", "pyjinn.kv_delete", "pyjinn.blob_list", "pyjinn.log")
    with pytest.raises(ModuleError) as raised:
        load_module(module, "")
    assert refusal(raised) == (
        "imports 'pyjinn.kv_set' and 'pyjinn.kv_delete', which need the kv_write grant, but "
        "function 'fn' has no kv_write: add the line `kv_write NAMESPACE` to its permissions "
        "block; imports 'pyjinn.blob_list', which needs the blob_read grant, but function 'fn' "
        "has no blob_read: add the line `blob_read NAMESPACE` to its permissions block"
    )


@pytest.mark.parametrize(
    ("imports", "permissions"),
    [
        (KV_IMPORTS, " kv_read users\n kv_write users"),
        (SQL_IMPORTS, " db write"),
        (BLOB_IMPORTS, " s3_read media\n s3_write media"),
        ('(import "pyjinn" "db_query" (func (param i32 i32 i32 i32) (result i64)))', " db read"),
    ],
    ids=["kv", "db", "blob", "db-read-query-only"],
)
def test_a_function_granted_what_its_imports_need_loads(
    load_module, imports: str, permissions: str
) -> None:
    runtime = load_module(abi_guest(imports, []), permissions)
    assert runtime.functions["fn"].is_loaded


def test_validate_reports_a_missing_grant_at_the_function_line(tmp_path) -> None:
    (tmp_path / "fn.wat").write_text(importing("pyjinn.kv_get", "pyjinn.kv_set"))
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        "{\n\tadmin off\n}\n:8080 {\n\tpyjinn fn.wat {\n\t\tpermissions {\n"
        "\t\t\tkv_read users\n\t\t}\n\t}\n}\n"
    )
    assert validate_file(caddyfile) == [
        f"{caddyfile}:5: function 'fn': {tmp_path / 'fn.wat'}: imports 'pyjinn.kv_set', which "
        "needs the kv_write grant, but function 'fn' has no kv_write: add the line "
        "`kv_write NAMESPACE` to its permissions block"
    ]


@pytest.mark.parametrize("grant", sorted({f.grant for f in abi.FUNCTIONS if f.grant}))
def test_the_line_each_refusal_suggests_grants_what_was_missing(grant: str, tmp_path) -> None:
    # The suggested line, with a real namespace in place of NAMESPACE, loads and holds the grant.
    (tmp_path / "fn.wat").write_text("(module)")
    names = {"jobs_enqueue": " *", "ai": "", "http": "", "websocket": ""}.get(grant, " users")
    line = grant if grant.startswith("db ") else f"{grant}{names}"
    # http needs its hosts in the function's block (covering STORAGE's model endpoint too).
    hosts = " allow_host api.example.com 127.0.0.1:1\n" if grant == "http" else ""
    text = (
        f"{{\n\t{STORAGE}\n}}\n"
        f":8080 {{\n pyjinn fn.wat {{\n{hosts} permissions {{\n  {line}\n }}\n }}\n}}\n"
    )
    (spec,) = loads(text, base_dir=tmp_path, environ={}).functions()
    assert spec.permissions.holds(grant)
    assert grants.refuse_imports("fn", spec.permissions, []) is None


@pytest.mark.parametrize(
    ("permissions", "held"),
    [
        (Permissions(), {""}),
        (Permissions(kv_read=("a",)), {"", "kv_read"}),
        (Permissions(kv_write=("a",), blob_write=("*",)), {"", "kv_write", "blob_write"}),
        (Permissions(db="read"), {"", "db read"}),
        (Permissions(db="write"), {"", "db read", "db write"}),
    ],
)
def test_permissions_hold_exactly_the_grants_their_lines_give(
    permissions: Permissions, held: set[str]
) -> None:
    every = {f.grant for f in abi.FUNCTIONS}
    assert {grant for grant in every if permissions.holds(grant)} == held


# The second lock: the dispatcher checks every call's grant even when a module got past the
# first (here, by switching the load-time check off).


@pytest.fixture
def without_load_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Function, "_check_grants", lambda self, module: None)


@pytest.mark.parametrize(
    ("imports", "call", "permissions", "message"),
    [
        (
            KV_IMPORTS,
            "(i64.extend_i32_s (call $kv_set (i32.const 0) (i32.const 5) (i32.const 0) "
            "(i32.const 1)))",
            " kv_read users",
            "kv_set: no kv_write permission",
        ),
        (
            KV_IMPORTS,
            "(call $kv_list (i32.const 0) (i32.const 0))",
            " kv_write users",
            "kv_list: no kv_read permission",
        ),
        (
            SQL_IMPORTS,
            "(call $db_exec (i32.const 0) (i32.const 5) (i32.const 0) (i32.const 0))",
            " db read",
            "db_exec: the function may only read (permissions { db read }); db_exec needs db write",
        ),
        (
            BLOB_IMPORTS,
            "(i64.extend_i32_s (call $blob_put (i32.const 0) (i32.const 5) (i32.const 0) "
            "(i32.const 1)))",
            " blob_read users",
            "blob_put: no blob_write permission",
        ),
    ],
    ids=["kv_set", "kv_list", "db_exec", "blob_put"],
)
async def test_the_dispatcher_still_denies_a_call_its_function_is_not_granted(
    without_load_check, load_module, imports: str, call: str, permissions: str, message: str
) -> None:
    runtime = load_module(abi_guest(imports, [call], {0: "users"}), permissions)
    results, run = await call_abi_guest(runtime)
    assert results == [ErrorCode.DENIED]
    assert run.host_calls[0].message == message
