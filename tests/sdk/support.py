"""Building guests against the SDKs (cached by content under .pytest_cache), and the Caddyfile
the SDK tests serve them with."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from pyjinn.toolchain.compilers import compile_assemblyscript
from pyjinn.toolchain.recipe import Recipe

ROOT = Path(__file__).resolve().parents[2]
C_SDK = ROOT / "sdk" / "c"
ZIG_SDK = ROOT / "sdk" / "zig" / "pyjinn.zig"
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
