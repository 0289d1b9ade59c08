"""One event loop on a thread of its own, serving blocking callers on any thread.

Guest threads call the key-value store synchronously. Giving each of them an event loop (and a
connection on it) would tie the number of connections to the number of threads; instead one
loop runs in the background for the whole process, and a caller hands it a coroutine and waits
for the result within its time budget. The loop keeps running between calls, so the clients on
it notice a closed connection when it happens, not at the next call.

A forked child inherits the loop's objects but not its thread: :meth:`LoopThread.forget` leaves
them untouched (another process owns them) and the child starts a loop of its own on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import uvloop

__all__ = ["LoopClosed", "LoopThread"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Objects a forked child inherited from its parent's loop thread. They are kept referenced
# for the life of the child: collecting them would run finalizers that act on descriptors the
# child has closed (and whose numbers it may since have reused).
_left_by_fork: list[object] = []


class LoopClosed(Exception):
    """The loop was closed: no further calls run on it."""


class LoopThread:
    """An event loop (uvloop) on a daemon thread named ``name``, started on first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def run(self, work: Callable[[], Awaitable[_T]], timeout: float) -> _T:
        """Run ``work()`` on the loop and return its result.

        Raises ``TimeoutError`` when it has not finished within ``timeout`` seconds (it is then
        cancelled), :class:`LoopClosed` when the loop is closed or closes meanwhile, and
        whatever ``work`` raises.
        """
        loop = self._running_loop()
        coroutine = _call(work)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop closed after we looked
            coroutine.close()
            raise LoopClosed from None
        try:
            outcome = future.result(max(timeout, 0.0))
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError from None
        except concurrent.futures.CancelledError:
            raise LoopClosed from None
        return outcome.result()

    def close(self, last: Callable[[], Awaitable[None]], timeout: float) -> None:
        """Run ``last()`` on the loop (within ``timeout`` seconds), then stop the loop and its
        thread; calls still waiting get :class:`LoopClosed`. Idempotent."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(_call(last), loop).result(timeout).result()
        except Exception:
            log.warning("Closing the NATS connection failed.", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("The %s thread did not stop within %g s.", self._name, timeout)

    def forget(self) -> None:
        """In a forked child: drop the parent's loop without touching it (see the module)."""
        if self._loop is not None:
            _left_by_fork.append(self._loop)
        self._lock = threading.Lock()  # it may have been held by a thread the child lacks
        self._loop = self._thread = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._closed:
                raise LoopClosed
            if self._loop is None:
                loop = uvloop.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop


class _Outcome(Generic[_T]):
    """What a call returned or raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: _T | None = None, error: Exception | None = None) -> None:
        self.value = value
        self.error = error

    def result(self) -> _T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # None only along with an error


async def _call(work: Callable[[], Awaitable[_T]]) -> _Outcome[_T]:
    # The task ends with its outcome, not with the exception: a caller that gave up has
    # cancelled the future that would have read it, and asyncio logs an exception nobody read.
    try:
        return _Outcome(await work())
    except Exception as error:
        return _Outcome(error=error)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The thread's body: run the loop until stopped, then cancel what is left and close it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except Exception:
            log.warning("Stopping the NATS event loop failed.", exc_info=True)
        finally:
            loop.close()
