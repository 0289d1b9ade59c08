"""Triggers as users run them: ``pyjinn up`` with worker processes, its embedded nats-server
(and that server's MQTT listener), real signals.

Runs are counted from the access log the server wrote (one record per invocation), ticks from
the job records the admin API lists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.server.test_live import Server, pid_alive, start, wait_until

pytestmark = pytest.mark.slow

CRON_SITE = """
:PORT {
    handle /tick {
        pyjinn triggers.wasm {
            name tick
            timeout 2s
            cron "* * * * * *"
        }
    }
    handle /readings {
        pyjinn triggers.wasm {
            name readings
            mqtt_subscribe "sensors/+/temperature"
        }
    }
}
"""


@pytest.fixture
def server(tmp_path: Path, c_guest: Callable[[str], Path]) -> Iterator[Server]:
    shutil.copyfile(c_guest("triggers"), tmp_path / "triggers.wasm")
    running = start(tmp_path, CRON_SITE, workers=2)
    yield running
    assert running.stop() == 0


def jobs_of(server: Server, function: str) -> list[dict]:
    answer = httpx.get(f"{server.admin}/jobs?function={function}&limit=1000", timeout=10)
    return answer.json()["jobs"]


def runs_of(server: Server, function: str) -> int:
    return sum(
        1
        for record in server.logs()
        if record.get("logger") == "pyjinn.access" and record.get("function") == function
    )


def test_cron_every_second_on_two_workers_runs_each_tick_once_through_a_reload_and_a_kill(
    server: Server,
) -> None:
    started = time.time()
    time.sleep(3)
    server.process.send_signal(signal.SIGHUP)  # a reload: the same cron line keeps ticking
    wait_until(lambda: any("Reloaded" in r["message"] for r in server.logs()))
    time.sleep(3)
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)  # its replacement starts ticking from now
    wait_until(lambda: not pid_alive(victim))
    time.sleep(max(0.0, started + 10 - time.time()))
    ended = time.time()
    wait_until(
        lambda: all(job["status"] == "succeeded" for job in jobs_of(server, "tick")), timeout=30
    )
    jobs = jobs_of(server, "tick")
    ticks = [json.loads(json.loads(job["result"]["body"])["body"])["tick"] for job in jobs]
    assert len(ticks) == len(set(ticks)), "two jobs for one tick"
    in_window = [job for job in jobs if started < job["created"] <= ended]
    print(f"cron: {len(in_window)} ticks in {ended - started:.1f} s, {len(jobs)} in all")
    assert 9 <= len(in_window) <= 11
    # Each job ran once: its record counts one attempt, and the runs written to the access log
    # by now are no more than the jobs that exist by a moment later (the cron goes on ticking).
    wait_until(lambda: runs_of(server, "tick") >= len(jobs))
    runs = runs_of(server, "tick")
    assert runs <= len(jobs_of(server, "tick"))
    assert all(job["attempts"] == 1 for job in jobs)


def test_mqtt_on_the_embedded_nats_server_runs_the_function_once_per_message(
    server: Server,
) -> None:
    port, user, password = embedded_mqtt(server)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="live-publisher")
    client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        # The lease and subscription are made after start-up: publish until one is taken.
        deadline = time.monotonic() + 30
        sent = 0
        while not jobs_of(server, "readings"):
            assert time.monotonic() < deadline, "no MQTT message was taken"
            client.publish("sensors/warm-up/temperature", b"0", qos=1).wait_for_publish(10)
            sent += 1
            time.sleep(0.5)
        for index in range(10):
            info = client.publish(f"sensors/room{index}/temperature", f"{index}".encode(), qos=1)
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    wait_until(
        lambda: len([j for j in jobs_of(server, "readings") if j["status"] == "succeeded"]) >= 10,
        timeout=30,
    )
    time.sleep(1.0)
    topics = [
        json.loads(job["result"]["body"])["headers"]["X-Mqtt-Topic"][0]
        for job in jobs_of(server, "readings")
        if job["status"] == "succeeded"
    ]
    rooms = sorted(topic for topic in topics if "room" in topic)
    assert rooms == sorted(f"sensors/room{index}/temperature" for index in range(10))
    # One subscriber for both workers: the lease holder.
    holders = [r for r in server.logs() if "now holds the lease mqtt." in r["message"]]
    assert len(holders) == 1


def embedded_mqtt(server: Server) -> tuple[int, str, str]:
    """The embedded nats-server's MQTT port (from pyjinn's log) and its credential (from the
    server's config file, readable by the user who runs pyjinn)."""
    started = next(r["message"] for r in server.logs() if "Started nats-server" in r["message"])
    found = re.search(r"MQTT on 127\.0\.0\.1:(\d+)", started)
    assert found, started
    config = (server.log.parent / "data" / "nats" / "nats-server.conf").read_text()
    credential = re.search(r'user: "([^"]+)", password: "([^"]+)"', config)
    assert credential, "no credential in the embedded server's config"
    return int(found.group(1)), credential.group(1), credential.group(2)
