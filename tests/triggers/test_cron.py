"""The cron trigger on a real nats-server: each tick runs once however many processes tick,
and missed ticks are skipped unless the line says catch_up."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import nats
import pytest

from pyjinn.config.model import CronTrigger
from pyjinn.server.app import PyjinnApp
from pyjinn.services import NatsConnection
from pyjinn.triggers.cron import STATE_BUCKET, state_key
from pyjinn.triggers.schedule import parse_schedule
from tests.triggers.conftest import serving, unique, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def site(name: str, schedule: str, block: str = "") -> str:
    return f"""
    :8080 {{
        pyjinn /{name} triggers.wasm {{
            name {name}
            tenant {unique("t")}
            cron "{schedule}" {block}
        }}
    }}
    """


async def records(app: PyjinnApp, function: str) -> list:
    jobs = app.runtime.services.jobs
    assert jobs is not None and jobs.queue is not None
    return await jobs.queue.list_records(function=function)


def tick_of(record) -> dict:
    return json.loads(json.loads(record.result["body"])["body"])


async def test_two_processes_ticking_every_second_run_each_tick_once(
    make_app, project, c_guest: Callable
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name = unique("tick")
    caddyfile = site(name, "* * * * * *")
    first, second = make_app(caddyfile), make_app(caddyfile)
    async with serving(first), serving(second):
        started = time.time()
        await asyncio.sleep(4.2)
        ended = time.time()
        found = await wait_for(lambda: _all_done(records(first, name), minimum=4), timeout=20)
    ticks = [tick_of(record)["tick"] for record in found]
    assert len(ticks) == len(set(ticks))  # never two jobs for one tick
    assert all(record.attempts == 1 for record in found)  # and each ran once
    within = [record for record in found if started < record.created <= ended + 0.5]
    assert 3 <= len(within) <= 5
    envelope = json.loads(found[0].result["body"])
    assert envelope["method"] == "ASYNC" and envelope["uri"] == "internal://async/job"
    assert envelope["headers"]["X-Source"] == ["internal"]
    assert envelope["headers"]["X-Pyjinn-Trigger"] == ["cron"]
    body = tick_of(found[0])
    assert body["event_type"] == "cron" and body["schedule"] == "* * * * * *"
    assert body["missed"] == 0 and body["tick"].endswith(".000Z")


async def test_with_catch_up_the_ticks_missed_while_down_run_once(
    make_app, project, c_guest: Callable, nats_connection: NatsConnection
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name = unique("late")
    hourly = "0 0 * * * *"
    three_hours_ago = time.time() - 3 * 3600
    await _record_last_tick(nats_connection, CronTrigger(name, hourly), three_hours_ago)
    app = make_app(site(name, hourly, "{\n catch_up\n }"))
    async with serving(app):
        found = await wait_for(lambda: _all_done(records(app, name), minimum=1))
        await asyncio.sleep(1.0)
        assert len(await records(app, name)) == 1  # one job for all the missed ticks
    body = tick_of(found[0])
    expected, _ = parse_schedule(hourly).ticks_between(three_hours_ago, time.time(), 100)
    assert body["missed"] in (expected, expected - 1)  # an hour may have turned meanwhile
    assert body["tick"].endswith(":00:00.000Z")


async def test_without_catch_up_missed_ticks_are_skipped(
    make_app, project, c_guest: Callable, nats_connection: NatsConnection
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name = unique("skip")
    hourly = "0 0 * * * *"
    await _record_last_tick(nats_connection, CronTrigger(name, hourly), time.time() - 3 * 3600)
    app = make_app(site(name, hourly))
    async with serving(app):
        await asyncio.sleep(1.5)
        assert await records(app, name) == []


async def test_a_reload_with_the_same_line_keeps_its_ticks_without_a_gap_or_a_double(
    make_app, project, c_guest: Callable
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name = unique("reload")
    app = make_app(site(name, "* * * * * *"))
    async with serving(app):
        await asyncio.sleep(1.5)
        for _ in range(3):
            app.replace(app.runtime.successor(app.runtime.config, None))
            await asyncio.sleep(0.4)
        await asyncio.sleep(1.0)
        found = await wait_for(lambda: _all_done(records(app, name), minimum=3))
    ticks = sorted(tick_of(record)["tick"] for record in found)
    assert len(ticks) == len(set(ticks))
    seconds = sorted(round(record.created) for record in found)
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds)))  # no second skipped


async def _all_done(found, minimum: int) -> list | None:
    records = await found
    if len(records) >= minimum and all(r.status == "succeeded" for r in records):
        return records
    return None


async def _record_last_tick(connection: NatsConnection, trigger: CronTrigger, tick: float) -> None:
    client = await nats.connect(
        servers=list(connection.urls), user=connection.user, password=connection.password
    )
    try:
        js = client.jetstream()
        try:
            bucket = await js.key_value(STATE_BUCKET)
        except Exception:
            from nats.js.api import KeyValueConfig

            bucket = await js.create_key_value(KeyValueConfig(bucket=STATE_BUCKET, history=1))
        await bucket.put(state_key(trigger), repr(tick).encode())
    finally:
        await client.close()
