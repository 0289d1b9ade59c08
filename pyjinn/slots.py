"""Bounded concurrency for one function: ``pool_size`` slots and a short wait for a free one."""

from __future__ import annotations

import asyncio
import collections

from pyjinn.errors import RequestRejected


class Slots:
    """At most ``size`` holders at once; others wait up to a deadline, first come first served.

    Cheap on the request path: the uncontended case allocates nothing, and a waiter costs one
    future. Deadlines are kept by a single timer per ``Slots`` (the sweeper), not one per
    waiter. Requests share the function's ``pool_wait``, so they usually expire in the order
    they came and the sweeper only looks at the oldest; a waiter with a longer wait (a job)
    makes the sweeper look at every waiter, and it runs at the earliest deadline.
    """

    __slots__ = ("_sweeper", "_sweeper_loop", "_waiters", "in_use", "name", "peak", "size")

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self.in_use = 0
        self.peak = 0
        # (deadline on the loop's clock, future), oldest first
        self._waiters: collections.deque[tuple[float, asyncio.Future[None]]] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweeper_loop: asyncio.AbstractEventLoop | None = None

    async def acquire(self, wait: float) -> None:
        """Take a slot, waiting at most ``wait`` seconds; raises ``RequestRejected`` (503) after."""
        if self.in_use < self.size and not self._waiters:
            self._take()
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        deadline = loop.time() + wait
        self._waiters.append((deadline, waiter))
        sweeper = self._sweeper
        if sweeper is None or self._sweeper_loop is not loop or deadline < sweeper.when():
            if sweeper is not None:
                sweeper.cancel()
            self._sweeper = loop.call_at(deadline, self._sweep, loop)
            self._sweeper_loop = loop
        try:
            await waiter  # a releasing holder hands its slot over directly
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # we were handed a slot just as we were cancelled
            else:
                self._forget(waiter)
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

    def _take(self) -> None:
        self.in_use += 1
        if self.in_use > self.peak:
            self.peak = self.in_use

    def release(self) -> None:
        """Give the slot back, handing it straight to the oldest live waiter if there is one."""
        waiters = self._waiters
        while waiters:
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes over; in_use stays the same
                return
        self.in_use -= 1

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Expire the waiters whose deadline has passed; come back for the next one."""
        waiters, now = self._waiters, loop.time()
        while waiters and waiters[0][0] <= now:
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_exception(_Expired())
        if not waiters:
            self._sweeper = None
            return
        earliest = waiters[0][0]
        if any(deadline < earliest for deadline, _ in waiters):  # waits of different lengths
            for entry in [entry for entry in waiters if entry[0] <= now]:
                waiters.remove(entry)
                if not entry[1].done():
                    entry[1].set_exception(_Expired())
            earliest = min(deadline for deadline, _ in waiters) if waiters else 0.0
        self._sweeper = loop.call_at(earliest, self._sweep, loop) if waiters else None

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        for entry in self._waiters:
            if entry[1] is waiter:
                self._waiters.remove(entry)
                return


class _Expired(Exception):
    pass
