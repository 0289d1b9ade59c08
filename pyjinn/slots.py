"""Bounded concurrency for one function: ``pool_size`` slots and a short wait for a free one."""

from __future__ import annotations

import asyncio
import collections
import contextlib

from pyjinn.errors import RequestRejected


class Slots:
    """At most ``size`` holders at once; others wait up to a deadline, first come first served.

    Lighter than ``asyncio.wait_for(semaphore.acquire(), ...)``: the common, uncontended case
    allocates nothing, and a waiter costs one future and one timer.
    """

    __slots__ = ("_waiters", "in_use", "name", "peak", "size")

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self.in_use = 0
        self.peak = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self, wait: float) -> None:
        """Take a slot, waiting at most ``wait`` seconds; raises ``RequestRejected`` (503) after."""
        if self.in_use < self.size and not self._waiters:
            self._take()
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(wait, _expire, waiter)
        try:
            await waiter  # a releasing holder hands its slot over directly
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # we were handed a slot just as we were cancelled
            raise
        except _Expired:
            raise RequestRejected(
                503,
                "overloaded",
                "function is busy, retry shortly",
                f"all {self.size} slots of function {self.name!r} stayed busy for {wait:g}s "
                "(pool_size, pool_wait)",
                retry_after=1,
            ) from None
        finally:
            timer.cancel()
            # Still queued if it expired or was cancelled; a waiter handed a slot was popped.
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _take(self) -> None:
        self.in_use += 1
        if self.in_use > self.peak:
            self.peak = self.in_use

    def release(self) -> None:
        """Give the slot back, handing it straight to the oldest live waiter if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes over; in_use stays the same
                return
        self.in_use -= 1


class _Expired(Exception):
    pass


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(_Expired())
