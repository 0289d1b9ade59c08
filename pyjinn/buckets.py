"""Token buckets in memory shared by every worker process: the state behind ``rate_limit``.

The table lives in a memfd made when a process's ``Services`` are (under ``pyjinn up``, in the
supervisor, before it forks), so every worker, and every worker restarted later, maps the same
pages and sees the same buckets: a limit holds for the whole server, not per worker.

Each bucket is one number, its *theoretical arrival time* (the GCRA form of a token bucket):
the moment the bucket will be full again. A bucket of ``burst`` tokens refilled at ``rate`` per
second admits a request when ``tat - now <= (burst - 1) / rate``, and then moves ``tat`` on by
``1 / rate``; so over any stretch of ``s`` seconds it admits at most ``burst + rate * s``
requests. A bucket whose ``tat`` has passed is full: forgetting it changes nothing.

Memory is fixed (``capacity`` buckets of 16 bytes: a 64-bit key and the time). A key may sit in
one of ``PROBE`` slots from its hash. A new key takes an empty slot there, else one whose bucket
is full again (an idle tenant: evicting it loses nothing), else the one nearest to full; only
in that last case, when more than ``PROBE`` keys of one window are all active at once, may a
tenant get part of a burst early. Any number of tenants therefore fits in the same memory.

Each check holds a POSIX record lock on the memfd (and a thread lock: record locks belong to a
process). The kernel releases a record lock when its process dies, so a worker killed in the
middle of a check never blocks the others.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import NamedTuple

CAPACITY = 1 << 16  # buckets: 1 MiB of shared memory, touched only as far as it is used
PROBE = 8  # slots a key may occupy, from its hash on
# Float arithmetic on times must not turn 10 - 10 * 0.1 * 10 into 8.999...: counts are rounded
# with this much slack.
_EPSILON = 1e-9

_TABLES: weakref.WeakSet[BucketTable] = weakref.WeakSet()


class Decision(NamedTuple):
    """The outcome of one check: whether the request may go on, the whole requests the bucket
    still holds (after this one), and the seconds until it holds one more. (A named tuple: it
    is made on every request, and a frozen dataclass costs a microsecond more.)"""

    allowed: bool
    remaining: int
    next_token: float


class BucketTable:
    """A fixed-size table of token buckets shared with the processes forked after it was made.

    ``clock`` gives seconds on a clock every process shares (``time.monotonic``: the system's
    ``CLOCK_MONOTONIC``); tests pass their own."""

    def __init__(
        self, capacity: int = CAPACITY, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if capacity < 1:
            raise ValueError(f"a bucket table needs at least one slot, got {capacity}")
        self.capacity = capacity
        self.clock = clock
        slots = capacity + PROBE  # windows near the end run on instead of wrapping around
        self._fd = os.memfd_create("pyjinn-rate-limits", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self._fd, slots * 16)
            self._memory = mmap.mmap(self._fd, slots * 16)
        except BaseException:
            os.close(self._fd)
            raise
        self._keys = memoryview(self._memory)[: slots * 8].cast("Q")
        self._times = memoryview(self._memory)[slots * 8 :].cast("d")
        self._thread_lock = threading.Lock()
        _TABLES.add(self)

    @staticmethod
    def key(*parts: str) -> int:
        """The 64-bit key of a bucket named by ``parts`` (never 0, which marks a free slot)."""
        digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") or 1

    def take(self, key: int, rate: float, burst: int) -> Decision:
        """Take a token from bucket ``key`` (``burst`` tokens, refilled at ``rate`` per second),
        if it has one."""
        interval = 1.0 / rate
        tolerance = (burst - 1) * interval
        with self._thread_lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                now = self.clock()
                slot = self._slot(key, now)
                arrival = self._times[slot]
                # A value from a larger burst (before a reload) or a torn write: clamp it.
                if not arrival <= now + burst * interval:
                    arrival = now + burst * interval
                arrival = max(arrival, now)
                allowed = arrival - now <= tolerance + _EPSILON
                if allowed:
                    arrival += interval
                    self._times[slot] = arrival
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)
        # What the bucket holds now: burst - (arrival - now) * rate tokens.
        remaining = max(0, math.floor(burst - (arrival - now) * rate + _EPSILON))
        next_token = max(0.0, arrival - now - (burst - remaining - 1) * interval)
        return Decision(allowed, remaining, next_token)

    def _slot(self, key: int, now: float) -> int:
        """The slot of ``key``, claimed for it (as a full bucket) if it had none."""
        start = key % self.capacity
        keys = self._keys
        window = keys[start : start + PROBE].tolist()
        try:
            return start + window.index(key)
        except ValueError:
            pass
        times = self._times
        chosen, earliest = start, math.inf
        for offset, held in enumerate(window):
            slot = start + offset
            if held == 0 or times[slot] <= now:
                chosen = slot
                break
            if times[slot] < earliest:
                chosen, earliest = slot, times[slot]
        times[chosen] = now
        keys[chosen] = key
        return chosen

    def occupied(self) -> int:
        """How many slots hold a bucket that is not full (the others could be reused now)."""
        now = self.clock()
        with self._thread_lock:
            return sum(
                1
                for key, arrival in zip(self._keys.tolist(), self._times.tolist(), strict=True)
                if key and arrival > now
            )

    @property
    def size_bytes(self) -> int:
        """The shared memory the table takes, whatever the number of tenants."""
        return len(self._memory)

    def close(self) -> None:
        """Unmap the table in this process (others keep theirs)."""
        if self._fd < 0:
            return
        self._keys.release()
        self._times.release()
        self._memory.close()
        os.close(self._fd)
        self._fd = -1


def _after_fork_in_child() -> None:
    # A thread of the parent may have held a table's thread lock at the fork; no thread of the
    # child does.
    for table in list(_TABLES):
        table._thread_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
