"""Modules compiled once and linked once.

A module is identified by the SHA-256 of its WebAssembly bytes. Compiled code is cached on disk
(``Module.serialize``) under a directory named after the wasmtime version and loaded back after
an integrity check (``pyjinn.engine.cache``), so a restart or a new worker skips Cranelift.
Each module is linked once into an ``InstancePre``; an invocation then only instantiates it
into a fresh store.
Before any of that, the function's trust policy (``pyjinn.signing``) checks the file's
signatures, so a refused module is never compiled.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import wasmtime

from pyjinn import abi
from pyjinn.abi import HostFunction
from pyjinn.dispatcher import abi_functions, define_host_functions
from pyjinn.engine import _capi, clocks, filesystem, guest_writes, native, randomness, sleep
from pyjinn.engine.cache import CompileCache
from pyjinn.engine.engine import Engine
from pyjinn.engine.preinit import Entry, MemoryImage
from pyjinn.errors import ModuleError
from pyjinn.interpreters.python import PythonFunctions, is_python_function
from pyjinn.observability.metrics import REGISTRY as METRICS
from pyjinn.signing.policy import TrustPolicy

if TYPE_CHECKING:
    from pyjinn.engine.invoke import Sandbox

log = logging.getLogger("pyjinn.engine")

WASM_MAGIC = b"\0asm"
_CORE_VERSION = b"\x01\x00\x00\x00"
WASI_MODULE = "wasi_snapshot_preview1"
PAGE_SIZE = 65536
_NO_POLICY = TrustPolicy()


@dataclass(frozen=True, eq=False)
class CompiledModule:
    """A module ready to instantiate: compiled, linked, and described."""

    path: Path
    digest: str
    module: wasmtime.Module
    instance_pre: wasmtime.InstancePre
    pre_pointer: int
    imports: tuple[tuple[str, str], ...]
    memory_minimum: int
    from_cache: bool
    load_seconds: float
    # A pre-initialised module (pyjinn.engine.preinit): the export invocations call instead of
    # _start, the memory image written before it, and directories every sandbox running it
    # sees before the function's own mounts, as (host, guest, writable).
    entry: Entry | None = None
    image: MemoryImage | None = None
    preopens: tuple[tuple[bytes, bytes, bool], ...] = ()
    # Whether its linker serves fd_write natively (pyjinn.engine.guest_writes): the native path
    # then hands the guest's writes to fd 1 and 2 straight to its capped buffers.
    native_writes: bool = False


def default_cache_home() -> Path:
    """pyjinn's per-user cache directory (``$XDG_CACHE_HOME/pyjinn``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyjinn"


def cache_dir_for(data_dir: Path) -> Path:
    """Where compiled code for this wasmtime version lives under ``data_dir``."""
    return data_dir / "cache" / f"wasmtime-{wasmtime_version()}"


@functools.cache
def wasmtime_version() -> str:
    return importlib.metadata.version("wasmtime")


def read_module_bytes(path: Path, policy: TrustPolicy | None = None) -> bytes:
    """The WebAssembly binary in ``path``: a ``.wasm`` file as is, a ``.wat`` file assembled.

    ``policy`` checks the file's signatures first (and removes a Gojinn signature trailer);
    it raises ``ModuleError`` for a module it refuses.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModuleError(str(path), "module file not found") from None
    except OSError as error:
        raise ModuleError(str(path), f"cannot read module: {error.strerror}") from None
    return accept_module_bytes(path, data, policy)


def accept_module_bytes(path: Path, data: bytes, policy: TrustPolicy | None = None) -> bytes:
    """The WebAssembly binary in ``data``, the content of a module named ``path`` (a file, or an
    upload under that name): ``policy`` checks its signatures, WAT text is assembled; raises
    ``ModuleError`` for a module that cannot be accepted."""
    data = (policy or _NO_POLICY).check(path, data)
    if is_python_function(path):
        return data  # a Python function's source, read by pyjinn.interpreters.python
    if data.startswith(WASM_MAGIC):
        if data[4:8] != _CORE_VERSION:
            raise ModuleError(
                str(path),
                "is a WebAssembly component or an unknown binary version; pyjinn runs WASI "
                "preview1 core modules",
            )
        return data
    if path.suffix == ".wat":
        try:
            return bytes(wasmtime.wat2wasm(data.decode("utf-8")))
        except (UnicodeDecodeError, wasmtime.WasmtimeError) as error:
            raise ModuleError(
                str(path), f"invalid WebAssembly text: {_first_line(error)}"
            ) from None
    raise ModuleError(str(path), "not a WebAssembly binary (no \\0asm header) and not a .wat file")


class ModuleLoader:
    """Compiles, caches and links modules for one engine; safe to call from any thread.

    A loader for ``replay`` links WASI's clocks from Python, where they can answer from a
    record (``pyjinn.debug.replay``), instead of the native clock."""

    def __init__(self, engine: Engine, cache_dir: Path | None, *, replay: bool = False) -> None:
        self.engine = engine
        self.replay = replay
        self.cache = (
            CompileCache.open(cache_dir, wasmtime_version()) if cache_dir is not None else None
        )
        # One linker per set of signature variants a module asks for (usually just one).
        self._linkers: dict[tuple[frozenset[HostFunction], bool, bool], wasmtime.Linker] = {}
        self._modules: dict[tuple[str, bool, bool], CompiledModule] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._python: PythonFunctions | None = None

    @property
    def cache_dir(self) -> Path | None:
        """The compile cache's directory; None when compiled code is kept in memory only."""
        return self.cache.directory if self.cache is not None else None

    def load(
        self, path: Path, policy: TrustPolicy | None = None, *, sandbox: Sandbox | None = None
    ) -> CompiledModule:
        """The compiled module for the file at ``path`` (compiled at most once per content).

        ``policy`` decides whether the file's signatures let it load (default: no checks);
        raises ``ModuleError`` if it cannot load or the policy refuses it. A Python function
        (``.py``, ``.pyz``) is prepared for the ``sandbox`` it will run in.
        """
        return self.load_bytes(path, read_module_bytes(path, policy), sandbox=sandbox)

    def load_bytes(
        self,
        path: Path,
        data: bytes,
        *,
        symlinks: bool = False,
        sandbox: Sandbox | None = None,
        writable_mounts: bool | None = None,
    ) -> CompiledModule:
        """The compiled module for ``data``, a WebAssembly binary (or a Python function's
        source) already accepted (read and checked by a trust policy); ``path`` names it in
        errors and status. Its guests may create symbolic links in their writable mounts only
        with ``symlinks``. A Python function is prepared for ``sandbox``
        (``pyjinn.interpreters.python``). Whether its guests may write to files
        (``writable_mounts``) is ``sandbox``'s to say when not given, and taken as yes
        without either: only a module that cannot gets the native ``fd_write``."""
        if is_python_function(path):
            return self._python_functions().load(path, data, symlinks=symlinks, sandbox=sandbox)
        digest = hashlib.sha256(data).hexdigest()
        if writable_mounts is None:
            writable_mounts = sandbox is None or any(mount[2] for mount in sandbox.preopens)
        native_writes = native.extension is not None and not writable_mounts
        key = (digest, symlinks, native_writes)
        module = self._modules.get(key)
        if module is not None:
            return module
        with self._locks_guard:
            lock = self._locks.setdefault(digest, threading.Lock())
        with lock:
            module = self._modules.get(key)
            if module is None:
                module = self._compile_and_link(path, data, digest, symlinks, native_writes)
                self._modules[key] = module
            return module

    def _python_functions(self) -> PythonFunctions:
        with self._locks_guard:
            if self._python is None:
                cache_home = self.cache_dir.parent if self.cache_dir else default_cache_home()
                self._python = PythonFunctions(self, cache_home)
            return self._python

    def _compile_and_link(
        self, path: Path, data: bytes, digest: str, symlinks: bool, native_writes: bool
    ) -> CompiledModule:
        started = time.perf_counter()
        linked_otherwise = next(
            (loaded for key, loaded in list(self._modules.items()) if key[0] == digest), None
        )
        if linked_otherwise is not None:  # compiled already, only linked differently
            module, from_cache = linked_otherwise.module, True
        else:
            module, from_cache = self.compile(path, data, digest)
        imports, variants = check_imports(path, module)
        has_start = any(
            export.name == "_start" and isinstance(export.type, wasmtime.FuncType)
            for export in module.exports
        )
        if not has_start:
            raise ModuleError(
                str(path),
                "exports no '_start' function; pyjinn runs WASI command modules "
                "(build an executable, not a library or reactor)",
            )
        try:
            instance_pre = self._linker(variants, symlinks, native_writes).instantiate_pre(module)
        except wasmtime.WasmtimeError as error:
            raise ModuleError(str(path), f"cannot be linked: {_first_line(error)}") from None
        elapsed = time.perf_counter() - started
        METRICS.module_load(from_cache, elapsed)
        log.debug(
            "Loaded module %s (sha256 %s) %s in %.1f ms.",
            path,
            digest[:12],
            "from the compile cache" if from_cache else "by compiling it",
            elapsed * 1000,
        )
        return CompiledModule(
            path=path,
            digest=digest,
            module=module,
            instance_pre=instance_pre,
            pre_pointer=_capi.raw_pointer(instance_pre),
            imports=imports,
            memory_minimum=_memory_minimum(module),
            from_cache=from_cache,
            load_seconds=elapsed,
            native_writes=native_writes,
        )

    def _linker(
        self, variants: frozenset[HostFunction], symlinks: bool, native_writes: bool
    ) -> wasmtime.Linker:
        """WASI, pyjinn's replacements for some of it, and the host ABI with ``variants``;
        without ``symlinks``, creating a symbolic link fails with EPERM; with
        ``native_writes``, the native ``fd_write``."""
        key = (variants, symlinks, native_writes)
        linker = self._linkers.get(key)
        if linker is None:
            linker = wasi_linker(
                self.engine, symlinks, replay=self.replay, native_writes=native_writes
            )
            define_host_functions(linker, abi_functions(variants))
            self._linkers[key] = linker
        return linker

    def compile(self, path: Path, data: bytes, digest: str) -> tuple[wasmtime.Module, bool]:
        """``data`` compiled, from the compile cache when it holds it; (module, from cache)."""
        cache = self.cache
        artifact = cache.get(digest) if cache is not None else None
        if cache is not None and artifact is not None:
            try:
                return wasmtime.Module.deserialize(self.engine.wasm, artifact), True
            except wasmtime.WasmtimeError as error:
                cache.discard(digest, _first_line(error))
        try:
            module = wasmtime.Module(self.engine.wasm, data)
        except wasmtime.WasmtimeError as error:
            raise ModuleError(
                str(path), f"not a valid WebAssembly module: {_first_line(error)}"
            ) from None
        if cache is not None:
            cache.put(digest, bytes(module.serialize()))
        return module, False


def wasi_linker(
    engine: Engine, symlinks: bool, *, replay: bool = False, native_writes: bool = False
) -> wasmtime.Linker:
    """A linker with WASI and pyjinn's replacements for some of it (sleeps bounded by the
    deadline, the kernel's randomness, recorded clocks (answered from a record with
    ``replay``), with ``native_writes`` the native ``fd_write`` for a guest that has no file
    to write to, and, without ``symlinks``, no symbolic links)."""
    linker = wasmtime.Linker(engine.wasm)
    linker.define_wasi()
    _capi.linker_allow_shadowing(_capi.raw_pointer(linker), True)
    if not symlinks:
        filesystem.refuse_symlinks(linker)
    sleep.define(linker)
    randomness.define(linker)
    clocks.define(linker, replay=replay)
    if native_writes:
        guest_writes.define(linker)
    return linker


def check_imports(
    path: Path, module: wasmtime.Module
) -> tuple[tuple[tuple[str, str], ...], frozenset[HostFunction]]:
    """The module's imports, and the ABI variants they select; refuses any import pyjinn does
    not provide, naming it and, for a host function with the wrong signature, the right one."""
    imports = []
    variants = set()
    for item in module.imports:
        module_name, name = item.module, item.name or ""
        imports.append((module_name, name))
        if module_name == WASI_MODULE:
            continue
        candidates = [
            function
            for function in (*abi.FUNCTIONS, *abi.VARIANTS)
            if (function.module, function.name) == (module_name, name)
        ]
        if not candidates:
            raise ModuleError(
                str(path),
                f"imports '{module_name}.{name}', which pyjinn does not provide (a module may "
                f"import {WASI_MODULE}, and the {abi.PYJINN} and {abi.GOJINN} host functions "
                f"of ABI v{abi.ABI_VERSION})",
            )
        signature = _signature(item.type)
        matching = [f for f in candidates if (f.params, f.results) == signature]
        if not matching:
            expected = " or ".join(_describe(f.params, f.results) for f in candidates)
            raise ModuleError(
                str(path),
                f"imports '{module_name}.{name}' as {_describe(*signature)}; pyjinn provides "
                f"it as {expected}",
            )
        if matching[0] in abi.VARIANTS:
            variants.add(matching[0])
    return tuple(imports), frozenset(variants)


def _signature(kind: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(kind, wasmtime.FuncType):
        return (("not a function",), ())
    return tuple(str(p) for p in kind.params), tuple(str(r) for r in kind.results)


def _describe(params: tuple[str, ...], results: tuple[str, ...]) -> str:
    return f"({', '.join(params)}) -> ({', '.join(results)})"


def _memory_minimum(module: wasmtime.Module) -> int:
    for item in list(module.exports) + list(module.imports):
        if isinstance(item.type, wasmtime.MemoryType):
            return int(item.type.limits.min) * PAGE_SIZE
    return 0


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
