"""Handing invocations from the event loop to guest threads, in batches.

Guest code never runs on the event loop thread. But on this class of machine a round trip to
another thread costs 75 to 100 µs (a futex wake and a reschedule), more than a whole invocation,
and two threads running Python at once pay again in GIL hand-overs. So work moves in batches,
and the two sides take turns instead of contending:

- While handling I/O, the event loop only queues invocations. Once per loop iteration it hands
  the whole queue to one idle guest thread and waits for it, with the GIL released, for at most
  ``budget`` seconds. The guest thread runs the batch back to back, alone with the GIL, and the
  loop collects every result at once: one thread round trip per batch, not per request.
- If the batch is not done within the budget, the loop stops waiting and goes back to serving.
  Results already finished are delivered at once, each invocation not yet started gets a thread
  of its own, and every one still running reports back on its own when it finishes. A slow
  function therefore delays the event loop by at most ``budget``, and other requests not at all
  after that.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import Callable
from typing import Any

_PENDING, _RUNNING, _DONE = 0, 1, 2


class _Job:
    __slots__ = ("args", "error", "function", "future", "result", "state")

    def __init__(
        self, function: Callable[..., Any], args: tuple[Any, ...], future: asyncio.Future[Any]
    ) -> None:
        self.function = function
        self.args = args
        self.future = future
        self.state = _PENDING
        self.result: Any = None
        self.error: BaseException | None = None

    def deliver(self) -> None:
        """Complete the future (on the event loop thread)."""
        if self.future.done():  # cancelled while it ran; nobody waits for the result
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.result)


class _Batch:
    """Jobs run in order by one guest thread; the event loop may detach from it and take back
    what has not started."""

    __slots__ = ("detached_loop", "finished", "jobs", "lock")

    def __init__(self, jobs: list[_Job]) -> None:
        self.jobs = collections.deque(jobs)
        self.lock = threading.Lock()
        self.finished = threading.Lock()
        self.finished.acquire()  # released by the guest thread when the batch is done
        self.detached_loop: asyncio.AbstractEventLoop | None = None

    def next_job(self) -> _Job | None:
        with self.lock:
            for job in self.jobs:
                if job.state == _PENDING:
                    job.state = _RUNNING
                    return job
            return None

    def job_done(self, job: _Job) -> None:
        with self.lock:
            job.state = _DONE
            loop = self.detached_loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed; nobody waits
                loop.call_soon_threadsafe(job.deliver)

    def detach(self, loop: asyncio.AbstractEventLoop) -> tuple[list[_Job], list[_Job]]:
        """Stop waiting: return (finished jobs to deliver now, unstarted jobs to reassign)."""
        with self.lock:
            self.detached_loop = loop
            finished = [job for job in self.jobs if job.state == _DONE]
            unstarted = [job for job in self.jobs if job.state == _PENDING]
            # Emptying the queue hands the unstarted jobs back: this batch's thread finds no
            # more work, and a job still running reports through ``detached_loop``.
            self.jobs.clear()
        return finished, unstarted


class _GuestThread:
    def __init__(self, pool: GuestThreads, name: str) -> None:
        self._pool = pool
        self._wake = threading.Lock()
        self._wake.acquire()
        self._batch: _Batch | None = None
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def assign(self, batch: _Batch | None) -> None:
        self._batch = batch
        self._wake.release()

    def _main(self) -> None:
        while True:
            self._wake.acquire()
            batch = self._batch
            if batch is None:
                return
            while (job := batch.next_job()) is not None:
                try:
                    job.result = job.function(*job.args)
                except BaseException as error:  # delivered to the awaiting coroutine
                    job.error = error
                batch.job_done(job)
            self._batch = None
            batch.finished.release()
            if not self._pool._returned(self):
                return


class GuestThreads:
    """Runs blocking calls (guest invocations) off the event loop, batched per loop iteration."""

    def __init__(
        self, max_threads: int, *, budget: float = 0.002, name: str = "pyjinn-guest"
    ) -> None:
        self.max_threads = max_threads
        self.budget = budget
        self._name = name
        self._queued: list[_Job] = []
        self._idle: list[_GuestThread] = []
        self._all: list[_GuestThread] = []
        self._lock = threading.Lock()
        self._closed = False

    def run(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Schedule ``function(*args)`` on a guest thread; await the returned future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append(_Job(function, args, future))
        if len(self._queued) == 1:
            loop.call_soon(self._flush, loop)
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs, self._queued = self._queued, []
        if not jobs:
            return
        thread = self._take_thread()
        if thread is None:  # every thread busy: try again on the next loop iteration
            self._queued[:0] = jobs
            loop.call_later(0.001, self._flush, loop)
            return
        batch = _Batch(jobs)
        thread.assign(batch)
        if batch.finished.acquire(timeout=self.budget):
            for job in jobs:
                job.deliver()
            return
        finished, unstarted = batch.detach(loop)
        for job in finished:
            job.deliver()
        # A job outlived the budget, and those queued behind it may be slow too (a burst of
        # sleeping guests, say): waiting a budget for each would start them one per loop
        # iteration. Each gets a thread of its own at once instead, and reports back alone.
        for index, job in enumerate(unstarted):
            thread = self._take_thread()
            if thread is None:
                self._queued[:0] = unstarted[index:]
                loop.call_later(0.001, self._flush, loop)
                return
            alone = _Batch([job])
            alone.detached_loop = loop
            thread.assign(alone)

    def _take_thread(self) -> _GuestThread | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if len(self._all) >= self.max_threads or self._closed:
                return None
            thread = _GuestThread(self, f"{self._name}-{len(self._all)}")
            self._all.append(thread)
            return thread

    def _returned(self, thread: _GuestThread) -> bool:
        """A thread finished its batch; False tells it to stop."""
        with self._lock:
            if self._closed:
                return False
            self._idle.append(thread)
            return True

    def close(self, timeout: float | None = None) -> None:
        """Stop every thread once its current batch is done, waiting up to ``timeout`` each."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            threads = list(self._all)
        for thread in idle:
            thread.assign(None)
        for thread in threads:
            thread.thread.join(timeout)
