"""The MQTT trigger against a real Mosquitto with a real MQTT client (paho-mqtt): messages run
as jobs, and a QoS 1 message is acknowledged only once its job has ended."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from pyjinn.jobs import DEAD, SUCCEEDED
from pyjinn.server.app import PyjinnApp
from tests.servers import free_ports
from tests.triggers.conftest import Mosquitto, serving, unique, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def site(name: str, topic: str, broker: str, extra: str = "") -> str:
    return f"""
    :8080 {{
        pyjinn /{name} triggers.wasm {{
            name {name}
            tenant {unique("t")}
            mqtt_broker {broker}
            mqtt_client_id {name}
            mqtt_subscribe {topic}
            max_attempts 2
            retry_backoff 200ms
            {extra}
        }}
    }}
    """


def publish(broker: Mosquitto, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False):
    """Publish with a real client and wait for the broker's acknowledgement."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=unique("pub"))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


async def records(app: PyjinnApp, function: str) -> list:
    jobs = app.runtime.services.jobs
    assert jobs is not None and jobs.queue is not None
    return await jobs.queue.list_records(function=function)


def envelope_of(record) -> dict:
    return json.loads(record.result["body"])


async def test_a_qos1_message_to_a_function_that_fails_once_is_acknowledged_after_it_succeeds(
    make_app, project, c_guest: Callable, mosquitto: Mosquitto
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name, prefix = unique("fn"), unique("plant")
    topic = f"{prefix}/hall/temperature"
    caddyfile = site(
        name, f"{prefix}/+/temperature", mosquitto.url, "env FAIL_UNTIL 1\nenv SLEEP_MS 300"
    )
    app = make_app(caddyfile)
    async with serving(app):
        await _subscribed(mosquitto, name)
        publish(mosquitto, topic, b"21.5")
        # The first attempt failed; stop before the second has ended: nothing is acknowledged.
        failed = await wait_for(
            lambda: _first(records(app, name), lambda r: r.attempts >= 1 and r.error)
        )
        assert _acknowledgements(mosquitto, name) == 0
    first_job = failed.job_id
    # A second "process" connects with the same client id: the broker delivers the message
    # again, since it was never acknowledged; this time it is, once its job succeeded.
    again = make_app(caddyfile)
    async with serving(again):
        done = await wait_for(
            lambda: _first(
                records(again, name), lambda r: r.job_id != first_job and r.status == SUCCEEDED
            )
        )
        await wait_for(lambda: _acknowledgements(mosquitto, name) == 1)
    assert done.attempts == 2  # failed once, then succeeded: retried by the job queue
    envelope = envelope_of(done)
    assert envelope["method"] == "ASYNC" and envelope["uri"] == "internal://async/job"
    headers = envelope["headers"]
    assert headers["X-Source"] == ["internal"]
    assert headers["X-Pyjinn-Trigger"] == ["mqtt"]
    assert headers["X-Mqtt-Topic"] == [topic]
    assert headers["X-Mqtt-Qos"] == ["1"]
    assert headers["X-Mqtt-Retain"] == ["false"]
    assert envelope["body"] == "21.5"
    # Acknowledged now: a third connection gets nothing more.
    third = make_app(caddyfile)
    async with serving(third):
        await _subscribed(mosquitto, name, times=3)
        await _quiet(1.5)
        assert len(await records(third, name)) == 2


async def test_a_binary_payload_arrives_base64_with_the_retain_flag(
    make_app, project, c_guest: Callable, mosquitto: Mosquitto
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name, prefix = unique("fn"), unique("bin")
    payload = bytes(range(256))
    publish(mosquitto, f"{prefix}/raw", payload, retain=True)  # before anyone subscribed
    app = make_app(site(name, f"{prefix}/#", mosquitto.url))
    async with serving(app):
        done = await wait_for(lambda: _first(records(app, name), lambda r: r.status == SUCCEEDED))
    envelope = envelope_of(done)
    assert envelope["body_encoding"] == "base64"
    assert base64.b64decode(envelope["body"]) == payload
    assert envelope["headers"]["X-Mqtt-Retain"] == ["true"]


async def test_a_message_whose_function_always_fails_is_acknowledged_once_it_is_dead(
    make_app, project, c_guest: Callable, mosquitto: Mosquitto
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name, topic = unique("fn"), unique("dead") + "/x"
    caddyfile = site(name, topic, mosquitto.url, "env FAIL_UNTIL 99")
    app = make_app(caddyfile)
    async with serving(app):
        await _subscribed(mosquitto, name)
        publish(mosquitto, topic, b"never")
        dead = await wait_for(lambda: _first(records(app, name), lambda r: r.status == DEAD))
        assert dead.attempts == 2
        await wait_for(lambda: _acknowledgements(mosquitto, name) == 1)
    again = make_app(caddyfile)
    async with serving(again):
        await _subscribed(mosquitto, name, times=2)
        await _quiet(1.5)
        assert len(await records(again, name)) == 1  # not delivered again


async def test_after_the_broker_restarts_the_subscriber_reconnects_and_subscribes_again(
    make_app, project, c_guest: Callable, mosquitto: Mosquitto, tmp_path
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name, topic = unique("fn"), unique("restart") + "/x"
    app = make_app(site(name, topic, mosquitto.url))
    async with serving(app):
        await _subscribed(mosquitto, name)
        mosquitto.stop()
        restarted = Mosquitto(tmp_path / "restarted", port=mosquitto.port)
        try:
            await _subscribed(restarted, name)  # paho reconnected by itself
            publish(restarted, topic, b"after")
            done = await wait_for(
                lambda: _first(records(app, name), lambda r: r.status == SUCCEEDED)
            )
        finally:
            restarted.stop()
    assert envelope_of(done)["body"] == "after"


async def test_an_unreachable_broker_is_logged_and_the_server_keeps_serving(
    make_app, project, c_guest: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    name = unique("fn")
    closed = free_ports(1)[0]
    app = make_app(site(name, "a/b", f"tcp://127.0.0.1:{closed}"))
    import httpx

    with caplog.at_level(logging.WARNING, logger="pyjinn.triggers"):
        async with serving(app):
            await wait_for(lambda: "Cannot reach the MQTT broker" in caplog.text)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client:
                response = await client.post(f"/{name}", content=b"still here")
            assert response.status_code == 200
    assert f"127.0.0.1:{closed}" in caplog.text


async def _first(found, predicate):
    for record in await found:
        if predicate(record):
            return record
    return None


async def _subscribed(broker: Mosquitto, client_id: str, times: int = 1) -> None:
    """Wait until ``client_id`` has subscribed ``times`` times (once per connection)."""
    await wait_for(lambda: broker.log.read_text().count(f"Sending SUBACK to {client_id}") >= times)


def _acknowledgements(broker: Mosquitto, client_id: str) -> int:
    """How many QoS 1 messages ``client_id`` has acknowledged (Mosquitto logs each PUBACK)."""
    return broker.log.read_text().count(f"Received PUBACK from {client_id} ")


async def _quiet(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
