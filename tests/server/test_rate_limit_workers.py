"""rate_limit under ``pyjinn up --workers 2``: one bucket per tenant for the whole server, not
one per worker process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import HELLO, wat_writing
from tests.observability.test_live import invocations_by_process
from tests.server.test_live import start, wait_until

pytestmark = pytest.mark.slow

ACME = "acme-key-0123456789abcdef"
GLOBEX = "globex-key-0123456789abcdef"
SITE = f"""
:PORT {{
    pyjinn /limited hello.wat {{
        name limited
        rate_limit 10 10
        api_key {ACME} acme
        api_key {GLOBEX} globex
    }}
}}
"""


async def flood(url: str, key: str, count: int, seconds: float) -> list[httpx.Response]:
    """``count`` requests spread evenly over ``seconds``, each on a connection of its own (so
    both workers accept some), without waiting for one to finish before the next starts."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(index: int) -> httpx.Response:
            await asyncio.sleep(index * seconds / count)
            return await client.get(url, headers={"x-api-key": key})

        return list(await asyncio.gather(*(one(index) for index in range(count))))


def test_two_workers_admit_one_burst_plus_the_rate_between_them(tmp_path: Path, project) -> None:
    project("hello.wat", wat_writing(HELLO))
    server = start(tmp_path, SITE, workers=2)
    try:
        started = time.monotonic()
        answers = asyncio.run(flood(f"{server.url}/limited", ACME, 100, seconds=1.0))
        elapsed = time.monotonic() - started
        admitted = [answer for answer in answers if answer.status_code == 200]
        refused = [answer for answer in answers if answer.status_code == 429]
        assert len(admitted) + len(refused) == 100
        # The design's bound: the burst, plus the rate for the time the requests took (a whole
        # token more for the request in flight at the end). Per-worker buckets would allow
        # twice as many.
        assert 10 <= len(admitted) <= 10 + 10 * elapsed + 1, (len(admitted), elapsed)
        for answer in refused:
            assert answer.headers["retry-after"] == "1"
            assert answer.headers["ratelimit"] == '"rate_limit";r=0;t=1'
            assert answer.headers["ratelimit-policy"] == '"rate_limit";q=10;w=1;pyjinn-burst=10'
        # Another tenant of the same function has a full bucket of its own.
        others = asyncio.run(flood(f"{server.url}/limited", GLOBEX, 10, seconds=0.0))
        assert [answer.status_code for answer in others] == [200] * 10
        # Both workers took part: the bucket held across them.
        directory = tmp_path / "data" / "metrics"
        wait_until(lambda: sum(invocations_by_process(directory).values()) == 110, timeout=15)
        served = invocations_by_process(directory)
        assert sum(1 for count in served.values() if count) == 2, served
    finally:
        server.stop()
