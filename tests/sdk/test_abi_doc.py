"""docs/abi.md describes pyjinn/abi.py exactly: every function and variant with its signature,
no signature the table does not have, every error code, and the ABI version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyjinn.abi import ABI_VERSION, FUNCTIONS, VARIANTS, Arg, ErrorCode, HostFunction

DOC = Path(__file__).resolve().parents[2] / "docs" / "abi.md"

# A documented signature: a line of its own, like "pyjinn.kv_get(key_ptr: i32, ...) -> i64".
_DOCUMENTED = re.compile(r"^(?:pyjinn|gojinn)\.\w+\(.*$", re.MULTILINE)


def signature(function: HostFunction) -> str:
    """How docs/abi.md writes ``function``: pairs as NAME_ptr and NAME_len, wasm types."""
    params: list[str] = []
    for name, kind in function.args:
        if kind is Arg.I32:
            params.append(f"{name}: {kind.params[0]}")
        else:
            pointer, length = kind.params
            params += [f"{name}_ptr: {pointer}", f"{name}_len: {length}"]
    assert tuple(param.split(": ")[1] for param in params) == function.params
    returns = f" -> {', '.join(function.results)}" if function.results else ""
    return f"{function.qualified_name}({', '.join(params)}){returns}"


ALL = (*FUNCTIONS, *VARIANTS)


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("function", ALL, ids=[signature(f) for f in ALL])
def test_every_function_and_variant_is_documented_with_its_signature(
    doc: str, function: HostFunction
) -> None:
    assert signature(function) in _DOCUMENTED.findall(doc), (
        f"docs/abi.md lacks the line: {signature(function)}"
    )


def test_every_documented_signature_is_in_the_table(doc: str) -> None:
    expected = {signature(function) for function in ALL}
    stale = [line for line in _DOCUMENTED.findall(doc) if line not in expected]
    assert not stale, f"docs/abi.md documents signatures pyjinn/abi.py does not have: {stale}"


@pytest.mark.parametrize("code", list(ErrorCode), ids=[code.name for code in ErrorCode])
def test_every_error_code_is_in_the_table_of_codes(doc: str, code: ErrorCode) -> None:
    assert f"| {int(code)} | `{code.name}` |" in doc


def test_the_documented_version_is_the_abi_version(doc: str) -> None:
    assert doc.startswith(f"# The host ABI, version {ABI_VERSION}\n")


def test_the_permission_table_names_the_grant_the_table_checks(doc: str) -> None:
    # Rows like: | `kv_set`, `kv_delete` | kv | `kv_write` |  (core rows: "always granted").
    table = doc.split("## Functions of module `pyjinn`", 1)[1].split("###", 1)[0]
    documented: dict[str, str] = {}
    for row in re.findall(r"^\| (`\w+`(?:, `\w+`)*) \| \w+ \| (.+) \|$", table, re.MULTILINE):
        names, permission = row
        grant = re.search(r"`([^`]+)`", permission)
        for name in re.findall(r"`(\w+)`", names):
            documented[name] = grant.group(1) if grant else ""
    assert documented == {f.name: f.grant for f in FUNCTIONS if f.module == "pyjinn"}
