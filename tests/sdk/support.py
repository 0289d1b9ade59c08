"""Building guests against the SDKs (cached by content under .pytest_cache), and the Caddyfile
the SDK tests serve them with.

Rust and Go guests are built through pyjinn's own recipes (``pyjinn build``'s cargo and go
build), so these builds exercise them too; a machine without the toolchain skips their tests
(CI installs both: .ci/run).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pyjinn.toolchain import CompileFailed, build_function
from pyjinn.toolchain.compilers import compile_assemblyscript
from pyjinn.toolchain.go import find_go
from pyjinn.toolchain.recipe import Recipe
from pyjinn.toolchain.rust import find_rust

ROOT = Path(__file__).resolve().parents[2]
C_SDK = ROOT / "sdk" / "c"
ZIG_SDK = ROOT / "sdk" / "zig" / "pyjinn.zig"
RUST_SDK = ROOT / "sdk" / "rust"
GO_SDK = ROOT / "sdk" / "go"
ASSEMBLYSCRIPT_SDK = ROOT / "sdk" / "assemblyscript" / "pyjinn.ts"
_CACHE = ROOT / ".pytest_cache" / "sdk"

StoreClient = Callable[..., httpx.AsyncClient]

KV_CADDYFILE = """
:8080 {
    pyjinn kv.wasm {
        permissions {
            kv_read notes
            kv_write notes
        }
    }
}
"""


def build_c(source: str, directory: Path = _CACHE) -> Path:
    """Compile ``source`` with the C SDK (cached by content); warnings are errors."""
    sdk = [C_SDK / "pyjinn.h", C_SDK / "pyjinn.c"]
    digest = hashlib.sha256(source.encode() + b"".join(p.read_bytes() for p in sdk)).hexdigest()
    output = directory / f"c-{digest[:16]}.wasm"
    if not output.exists():
        directory.mkdir(parents=True, exist_ok=True)
        main = directory / f"c-{digest[:16]}.c"
        main.write_text(source)
        partial = output.with_suffix(f".{os.getpid()}.partial")
        command = [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-Os", "-s"]
        command += ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", str(C_SDK)]
        command += ["-o", str(partial), str(main), str(C_SDK / "pyjinn.c")]
        compiled = subprocess.run(command, capture_output=True, text=True, check=False)
        assert compiled.returncode == 0, compiled.stderr
        os.replace(partial, output)
    return output


def build_zig(source: str, directory: Path = _CACHE) -> Path:
    """Compile ``source`` as the root module with the SDK as module ``pyjinn`` (cached)."""
    digest = hashlib.sha256(source.encode() + ZIG_SDK.read_bytes()).hexdigest()[:16]
    output = directory / f"zig-{digest}.wasm"
    if not output.exists():
        work = directory / f"zig-{digest}"
        work.mkdir(parents=True, exist_ok=True)
        (work / "main.zig").write_text(source)
        partial = output.with_suffix(f".{os.getpid()}.partial.wasm")
        command = [sys.executable, "-m", "ziglang", "build-exe", "-target", "wasm32-wasi"]
        command += ["-O", "ReleaseSafe", f"-femit-bin={partial}"]
        command += ["--dep", "pyjinn", "-Mroot=main.zig", f"-Mpyjinn={ZIG_SDK}"]
        compiled = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        assert compiled.returncode == 0, compiled.stderr
        os.replace(partial, output)
    return output


TEMPLATES = ROOT / "pyjinn" / "templates"


def _template(path: str, sdk: Path) -> str:
    """A manifest of ``pyjinn init``'s templates, for a function named guest: test guests are
    built with the same profile (optimised, function names kept) as users' functions."""
    text = (TEMPLATES / path).read_text()
    return text.replace("{{name}}", "guest").replace("{{sdk}}", str(sdk))


def build_rust(source: str, directory: Path = _CACHE) -> Path:
    """Build ``source`` as src/main.rs of a Cargo package using the Rust SDK (cached by
    content); skips the test when no Rust toolchain can build for WASI."""
    skip_without(find_rust)
    files = {"Cargo.toml": _template("rust/Cargo.toml", RUST_SDK), "src/main.rs": source}
    return build_recipe("rust", files, RUST_SDK, directory)


def build_go(source: str, directory: Path = _CACHE) -> Path:
    """Build ``source`` as main.go of a Go module using the Go SDK (cached by content); skips
    the test when Go is not installed."""
    skip_without(find_go)
    files = {"go.mod": _template("go/go.mod", GO_SDK), "main.go": source}
    return build_recipe("go", files, GO_SDK, directory)


def skip_without(find: Callable[[], object]) -> None:
    """Skip the test when ``find`` (``find_rust``, ``find_go``) finds no toolchain."""
    try:
        find()
    except CompileFailed as error:
        pytest.skip(str(error))


def build_recipe(
    lang: str, files: dict[str, str], dependency: Path, directory: Path = _CACHE
) -> Path:
    """Build a function of ``files`` (path -> text) with ``pyjinn build``'s recipe for ``lang``;
    cached by the files' content and that of ``dependency``, the local package they use."""
    digest = hashlib.sha256()
    for name, text in sorted(files.items()):
        digest.update(f"{name}\0{text}\0".encode())
    for path in sorted(dependency.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(dependency)}\0".encode() + path.read_bytes())
    output = directory / f"{lang}-{digest.hexdigest()[:16]}.wasm"
    if not output.exists():
        work = directory / f"{lang}-{digest.hexdigest()[:16]}" / "functions" / "guest"
        for name, text in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)
        (work / "function.toml").write_text(f'lang = "{lang}"\n')
        messages: list[str] = []
        result = build_function(work, force=True, echo=messages.append)
        assert result.ok, "\n".join(messages)
        os.replace(result.output, output)
    return output


def build_assemblyscript(source: str, directory: Path = _CACHE, *, debug: bool = False) -> Path:
    """Compile ``source`` with pyjinn's AssemblyScript recipe (cached by content); the SDK lies
    beside it as ``./pyjinn``. ``debug`` keeps function names (asc --debug)."""
    flags = ("--debug",) if debug else ()
    key = source.encode() + ASSEMBLYSCRIPT_SDK.read_bytes() + repr(flags).encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    output = directory / f"as-{digest}.wasm"
    if not output.exists():
        work = directory / f"as-{digest}"
        work.mkdir(parents=True, exist_ok=True)
        (work / "main.ts").write_text(source)
        (work / "pyjinn.ts").write_bytes(ASSEMBLYSCRIPT_SDK.read_bytes())
        partial = output.with_suffix(f".{os.getpid()}.partial.wasm")
        recipe = Recipe(work.name, work, "assemblyscript", (work / "main.ts",), partial, flags)
        compile_assemblyscript(recipe, partial)
        os.replace(partial, output)
    return output


def tenant_caddyfile(caddyfile: str) -> str:
    """``caddyfile`` with the function acting for a new tenant: the session's store is shared."""
    tenant = f"t{uuid.uuid4().hex[:16]}"
    return caddyfile.replace("permissions {", f"tenant {tenant}\n        permissions {{", 1)
