"""Fuzzing the Caddyfile loader: whatever the text, it loads or fails with located errors.

The invariant: ``loads`` either returns a Config or raises ``ConfigErrors`` whose every error
has a location and prints as ``FILE:LINE: message``. No ValueError, OSError, RecursionError or
anything else escapes, whatever a directive's arguments hold (NUL bytes, paths too long for the
OS, devices, huge numbers, stray braces and quotes, placeholders, imports).

Inputs are built from the real directive tables, so they reach past the parser into every
builder, then some are mangled with random text. The runs are derandomized (the same examples
every time) and bounded, so the test is deterministic and quick.
"""

from __future__ import annotations

import functools
import itertools
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyjinn.config import loads
from pyjinn.config.build import GLOBAL_OPTIONS
from pyjinn.config.function import NOT_YET_SUPPORTED, SUPPORTED
from pyjinn.config.model import Config
from pyjinn.config.routes import SITE_DIRECTIVES
from pyjinn.errors import ConfigErrors

PUBLIC_KEY = "cffb545d67f8a60be1bb32ca4a3fad1f3638203fcbceb1a0e5749c72d8230fac"
ENVIRON = {
    "PORT": "8080",
    "EMPTY": "",
    "KEY": PUBLIC_KEY,
    "LONG": "x" * 5000,
    "NUL": "a\0b",
    "NOT_UTF8": "caf\udce9",  # how os.environ holds bytes that are not UTF-8
}

# What each kind of block holds, from the real tables, so generated files reach every builder.
BLOCK_CONTENTS: dict[str, tuple[str, ...]] = {
    "global": (*GLOBAL_OPTIONS, "import"),
    "site": (*SITE_DIRECTIVES, "import"),
    "function": (*SUPPORTED, "import"),
    "security": ("policy", "trusted_key", "trusted_key_file"),
    "permissions": ("kv_read", "kv_write", "db", "blob_read", "blob_write", "s3_read", "s3_write"),
    "tracing": ("sample",),
}
INNER_BLOCK = {
    **dict.fromkeys(("handle", "handle_path", "route"), "site"),
    **dict.fromkeys(("pyjinn", "gojinn"), "function"),
    "security": "security",
    "permissions": "permissions",
    "tracing": "tracing",
}
# Any name may turn up anywhere, and so may near misses.
NAMES = sorted(
    {
        *(name for names in BLOCK_CONTENTS.values() for name in names),
        *NOT_YET_SUPPORTED,
        "memroy_limit",
        "@named",
        "(snippet)",
    }
)
ARGUMENTS = [
    # values that are valid somewhere
    *("hello.wasm", "other.wat", "static", "/static", "ro", "rw", "2s", "0", "128MiB", "16"),
    *(":8080", "127.0.0.1:9", "off", "otlp", "http://127.0.0.1:4318", "strict", "audit"),
    *("read", "write", "users", "*", "sqlite", "postgres", "postgresql://app@db/app", "media"),
    *("./data/{tenant}.db", "nats://127.0.0.1:4222", "/api/*", "/x", PUBLIC_KEY),
    *("keys/ci.pub", "keys/ci.key", "snippet", "includes/common.caddy", "includes"),
    "acme-key-from-the-environment-0123",
    # placeholders
    *("{env.PORT}", "{env.LONG}", "{env.MISSING}", "{$EMPTY}", "{$MISSING:default}", "{tenant}"),
    *("{env.NUL}", "{env.NOT_UTF8}", "{args[0]}", "{args[7]}", "{args[" + "9" * 5000 + "]}"),
    # hostile values: OS limits, devices, files that are not text, numbers out of range
    *("a" * 300, "/" + "a/" * 3000, "..", "/dev/zero", "/dev/null", "fifo", "includes/nul.caddy"),
    *("includes/latin1.caddy", "9" * 30, "9" * 5000, "9" * 5000 + "h", "1" + "0" * 400 + "MiB"),
    *("1e999", "-1s", "nan", "inf", "http://[", "http://h:99999", "[::1]:" + "9" * 5000),
    *("{", "}", ""),
]
# Text no Caddyfile may hold: it stops the load at once, so it is drawn rarely.
NOT_TEXT = ["\0", "a\0b", "keys/ci\0.pub", "includes/\0common.caddy", "\ud800"]


def quote(text: str, style: str) -> str:
    """``text`` as a token: bare when it can be, else (or by choice) in quotes."""
    if style == "backtick" and "`" not in text:
        return f"`{text}`"
    if style == "double" or not text or any(char.isspace() for char in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


@st.composite
def words(draw: st.DrawFn, choices: list[str]) -> str:
    """One token: mostly one of ``choices``, sometimes random or non-text; bare or quoted."""
    roll = draw(st.integers(0, 499))
    if roll < 40:
        text = draw(st.text(st.characters(exclude_characters="\0"), max_size=8))
    elif roll == 40:
        text = draw(st.sampled_from(NOT_TEXT))
    else:
        text = draw(st.sampled_from(choices))
    return quote(text, draw(st.sampled_from(["bare", "bare", "bare", "double", "backtick"])))


@functools.cache
def directives(kind: str, depth: int) -> st.SearchStrategy[list[str]]:
    """The lines of a block of ``kind``: directives with arguments, some with nested blocks."""
    names = st.sampled_from(BLOCK_CONTENTS[kind]) | st.sampled_from(NAMES)
    arguments = st.lists(words(ARGUMENTS), max_size=3)

    @st.composite
    def directive(draw: st.DrawFn) -> list[str]:
        name = draw(names)
        line = " ".join([name, *draw(arguments)])
        if depth > 0 and (name in INNER_BLOCK or draw(st.integers(0, 4)) == 0):
            return [f"{line} {{", *draw(directives(INNER_BLOCK.get(name, kind), depth - 1)), "}"]
        return [line]

    return st.lists(directive(), max_size=6).map(lambda blocks: list(itertools.chain(*blocks)))


@st.composite
def caddyfiles(draw: st.DrawFn) -> str:
    """A Caddyfile: optional global options, snippets, sites; a few then mangled."""
    lines: list[str] = []
    if draw(st.booleans()):
        lines += ["{", *draw(directives("global", 2)), "}"]
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["snippet", "other", "common"]))
        lines += [f"({name}) {{", *draw(directives("site", 2)), "}"]
    for _ in range(draw(st.integers(1, 2))):
        address = draw(words([":8080", ":{env.PORT}", "localhost:9", "http://", ":8080, :8081"]))
        lines += [f"{address} {{", *draw(directives("site", 3)), "}"]
    text = "\n".join(lines) + "\n"
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        # Mangle: insert stray braces, quotes, backslashes and newlines, or cut a span out.
        position = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            noise = draw(st.text(alphabet=st.sampled_from('{}"`\\\n #ab:/.'), max_size=6))
            text = text[:position] + noise + text[position:]
        else:
            text = text[:position] + text[position + draw(st.integers(0, 20)) :]
    return text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Caddyfile directory with modules, a mount, key files, importable files (one not UTF-8,
    one holding a NUL) and a FIFO, which the loader must refuse without waiting on it."""
    root = tmp_path_factory.mktemp("site")
    (root / "hello.wasm").write_bytes(b"\0asm\1\0\0\0")
    (root / "other.wat").write_text("(module)")
    (root / "static").mkdir()
    (root / "keys").mkdir()
    (root / "keys" / "ci.pub").write_text(PUBLIC_KEY + "\n")
    (root / "keys" / "ci.key").write_text("0" * 64 + "\n")
    (root / "includes").mkdir()
    (root / "includes" / "common.caddy").write_text("(common) {\n respond ok\n}\n")
    (root / "includes" / "latin1.caddy").write_bytes(b"respond caf\xe9\n")
    (root / "includes" / "nul.caddy").write_bytes(b"respond a\0b\n")
    os.mkfifo(root / "fifo")
    return root


def check_loads(text: str, site: Path) -> Config | None:
    """Load ``text``; assert it either loads or fails with located errors only."""
    try:
        return loads(text, filename="Caddyfile", base_dir=site, environ=ENVIRON)
    except ConfigErrors as raised:
        for error in raised.errors:
            assert error.location is not None, error.message
            assert error.location.line >= 1, str(error)
            assert str(error).startswith(f"{error.location.file}:{error.location.line}: ")
        return None


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=caddyfiles())
def test_any_caddyfile_loads_or_fails_with_errors_at_file_and_line(text: str, site: Path) -> None:
    check_loads(text, site)


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(text=st.text(st.characters(exclude_categories=()), max_size=200))  # surrogates too
def test_any_text_at_all_loads_or_fails_with_errors_at_file_and_line(text: str, site: Path) -> None:
    check_loads(text, site)
