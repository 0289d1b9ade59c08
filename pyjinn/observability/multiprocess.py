"""Metrics across the processes of ``pyjinn up``, in prometheus-client's multiprocess format.

The supervisor makes a fresh private directory before it forks (``DATA_DIR/metrics/PID``, its
own pid; directories left by supervisors that died are removed). Each worker runs a
:class:`Flusher` that writes its metrics there about once a second, in the files
prometheus-client's ``MultiProcessCollector`` reads (``counter_PID.db``, ...); the admin
process aggregates them at ``GET /metrics``. When a worker dies the supervisor removes its
live gauges (``mark_process_dead``); its counters and histograms stay, so totals never go back.

No ``PROMETHEUS_MULTIPROC_DIR`` is involved: files are written and read with explicit paths,
so import order does not matter and nothing leaks into an embedding application's own metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import mark_process_dead

from pyjinn.observability.metrics import REGISTRY, Registry, raw_samples

log = logging.getLogger("pyjinn.metrics")

FLUSH_INTERVAL = 1.0


def prepare_directory(data_dir: Path) -> Path:
    """A fresh, private metrics directory for this supervisor, under ``data_dir/metrics``."""
    parent = data_dir / "metrics"
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in parent.iterdir():
        if stale.name.isdigit() and not _alive(int(stale.name)):
            shutil.rmtree(stale, ignore_errors=True)
    directory = parent / str(os.getpid())
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700)
    return directory


def remove_directory(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def forget_process(directory: Path, pid: int) -> None:
    """A child exited: drop its live gauges (instances in flight), keep its counters."""
    with contextlib.suppress(OSError):
        mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Sample kind -> the file prefix prometheus-client's reader expects (a gauge's mode is part of
# its file name; "livesum" sums live processes and is dropped by mark_process_dead).
_FILE_PREFIX = {"counter": "counter", "histogram": "histogram", "gauge": "gauge_livesum"}


class Flusher:
    """Writes this process's metrics into the shared directory, periodically and on close."""

    def __init__(
        self, directory: Path, registry: Registry = REGISTRY, interval: float = FLUSH_INTERVAL
    ) -> None:
        self.directory = directory
        self.registry = registry
        self.interval = interval
        self._files: dict[str, MmapedDict] = {}
        self._keys: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
        self._written: dict[str, tuple[float, ...]] = {}  # function -> what was written last
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="pyjinn-metrics-flusher", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # metrics must never take a worker down
                log.exception("Cannot write metrics to %s.", self.directory)

    def flush(self) -> None:
        """Write every value that changed (cumulative, so a lost flush loses nothing)."""
        with self._lock:
            pid = os.getpid()
            for family, labels, value in self.registry.snapshot(self._written):
                prefix = _FILE_PREFIX[family.kind]
                target = self._files.get(prefix)
                if target is None:
                    path = str(self.directory / f"{prefix}_{pid}.db")
                    target = self._files[prefix] = MmapedDict(path)  # type: ignore[no-untyped-call]
                for sample, labelled, number in raw_samples(family, labels, value):
                    identity = (family.name, sample, tuple(labelled.items()))
                    key = self._keys.get(identity)
                    if key is None:
                        key = self._keys[identity] = mmap_key(
                            family.name,
                            sample,
                            list(labelled),
                            list(labelled.values()),
                            family.help,
                        )
                    target.write_value(key, float(number), 0.0)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Stop the thread and write a last time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()
        with self._lock:
            for file in self._files.values():
                file.close()  # type: ignore[no-untyped-call]
            self._files.clear()
