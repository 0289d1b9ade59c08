"""Crash record tests: functions served in-process, their records, and replays of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyjinn.debug import replay as replaying
from pyjinn.debug.record import CrashRecord
from pyjinn.debug.recorder import RECORDER
from pyjinn.debug.store import CrashStore


@pytest.fixture
def crash_dir(tmp_path: Path) -> Path:
    """Where the runtimes of ``make_runtime``/``make_client`` write records (their data_dir's)."""
    return tmp_path / "data" / "crashes"


@pytest.fixture
def records(crash_dir: Path) -> Callable[[], list[CrashRecord]]:
    """Every record written so far, oldest first (waits for the writer)."""

    def read() -> list[CrashRecord]:
        assert RECORDER.flush(timeout=30)
        store = CrashStore(crash_dir, create=False)
        return [CrashRecord.load(stored.path) for stored in store.records()]

    return read


@pytest.fixture
def replay(crash_dir: Path) -> Callable[..., replaying.Verdict]:
    """Replay a record (with its recorded module unless ``module`` is given)."""

    def run(
        record: CrashRecord, module: Path | None = None, env: dict[str, str] | None = None
    ) -> replaying.Verdict:
        store = CrashStore(crash_dir, create=False)
        data = module.read_bytes() if module is not None else None
        if data is not None and module is not None and module.suffix == ".wat":
            import wasmtime

            data = bytes(wasmtime.wat2wasm(module.read_text()))
        return replaying.replay(
            record,
            data if data is not None else replaying.load_module(record, store.module),
            rebuilt=module is not None,
            secrets=replaying.gather_secrets(record, env or {}),
        )

    return run


@pytest.fixture(autouse=True)
def written_records() -> Iterator[None]:
    """No test leaves records being written behind it."""
    yield
    RECORDER.flush(timeout=30)


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """The commands configure the process's logging, as a command line should (access
    records through the batched writer, levels): undo that for the tests that follow."""
    import logging

    from pyjinn.observability import access_log

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    named = {name: logging.getLogger(name) for name in ("pyjinn.access", "uvicorn.error")}
    levels = {name: logger.level for name, logger in named.items()}
    uvicorn_access = logging.getLogger("uvicorn.access").disabled
    writer = access_log.writer
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in named.items():
        logger.setLevel(levels[name])
    logging.getLogger("uvicorn.access").disabled = uvicorn_access
    if access_log.writer is not writer:
        access_log.uninstall()
        access_log.writer = writer
