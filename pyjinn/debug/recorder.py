"""Writing crash records off the request path.

The invocation pipeline calls :meth:`Recorder.submit` after an invocation finished; that only
queues the capture. One thread per process builds each record and writes it into its crash
directory, so a slow disk never delays a response. What waits is bounded (``MAX_PENDING``
captures, ``MAX_PENDING_BYTES`` of memory images and output): past that a record is dropped
and the log says so, rather than letting a crash loop fill the server's memory.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path

from pyjinn.config.model import CrashRecords
from pyjinn.debug.capture import Capture, build_record
from pyjinn.debug.store import CrashStore

log = logging.getLogger("pyjinn.debug")

MAX_PENDING = 64
MAX_PENDING_BYTES = 512 * 1024 * 1024


class Recorder:
    """The process's record writer: a queue and the thread that drains it."""

    def __init__(
        self, max_pending: int = MAX_PENDING, max_pending_bytes: int = MAX_PENDING_BYTES
    ) -> None:
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self._queue: collections.deque[tuple[Capture, CrashRecords]] = collections.deque()
        self._pending_bytes = 0
        self._busy = 0  # captures taken off the queue and not yet written
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stores: dict[Path, CrashStore] = {}
        self.written = 0
        self.dropped = 0
        self.failed = 0

    def submit(self, capture: Capture, settings: CrashRecords) -> bool:
        """Queue ``capture`` for writing under ``settings``; False if it had to be dropped."""
        weight = capture.weight
        with self._condition:
            if (
                len(self._queue) >= self.max_pending
                or self._pending_bytes + weight > self.max_pending_bytes
            ):
                self.dropped += 1
                log.warning(
                    "Crash record of function %s dropped: %d records are waiting to be written.",
                    capture.spec.name,
                    len(self._queue),
                    extra={"function": capture.spec.name, "trace_id": capture.trace_id},
                )
                return False
            self._queue.append((capture, settings))
            self._pending_bytes += weight
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name="pyjinn-crash-records", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record is written; False if ``timeout`` passed first."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._queue and not self._busy, timeout)

    def store(self, settings: CrashRecords) -> CrashStore:
        """The store of a crash directory (one per directory, made once)."""
        store = self._stores.get(settings.path)
        if store is None or (store.max_records, store.max_bytes) != (
            settings.max_records,
            settings.max_bytes,
        ):
            store = self._stores[settings.path] = CrashStore(
                settings.path, max_records=settings.max_records, max_bytes=settings.max_bytes
            )
        return store

    def _drain(self) -> None:
        while True:
            with self._condition:
                while not self._queue:
                    self._condition.wait()
                capture, settings = self._queue.popleft()
                self._pending_bytes -= capture.weight
                self._busy += 1
            try:
                self._write(capture, settings)
            finally:
                with self._condition:
                    self._busy -= 1
                    self._condition.notify_all()

    def _write(self, capture: Capture, settings: CrashRecords) -> None:
        function = capture.spec.name
        try:
            record, module = build_record(capture)
            stored = self.store(settings).save(record, module)
        except Exception:  # a record we cannot write must not stop the next one
            self.failed += 1
            log.exception(
                "Cannot write the crash record of function %s.",
                function,
                extra={"function": function, "trace_id": capture.trace_id, "blame": "host"},
            )
            return
        self.written += 1
        log.info(
            "Crash record %s written for function %s (%d bytes).",
            stored.id,
            function,
            stored.size,
            extra={"function": function, "trace_id": capture.trace_id, "record": stored.id},
        )


RECORDER = Recorder()
