"""The NATS subject trigger on a real nats-server: request/reply through the invocation
pipeline, with a real nats-py client."""

from __future__ import annotations

import json
from collections.abc import Callable

import nats
import nats.errors
import pytest

from pyjinn.services import NatsConnection
from tests.triggers.conftest import serving, unique, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def site(name: str, subject: str, extra: str = "") -> str:
    return f"""
    :8080 {{
        pyjinn /{name} triggers.wasm {{
            name {name}
            tenant {unique("t")}
            nats_subscribe {subject}
            {extra}
        }}
    }}
    """


async def request(connection: NatsConnection, subject: str, payload: bytes, **headers: str):
    client = await nats.connect(
        servers=list(connection.urls), user=connection.user, password=connection.password
    )
    try:

        async def answered():
            try:
                return await client.request(subject, payload, timeout=5, headers=headers or None)
            except nats.errors.NoRespondersError:
                return None  # the subscription is not registered yet

        return await wait_for(answered)
    finally:
        await client.close()


async def test_a_request_on_a_subject_is_answered_with_the_function_s_response_body(
    make_app, project, c_guest: Callable, nats_connection: NatsConnection
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    subject = f"orders.{unique('s')}.created"
    async with serving(make_app(site(unique("fn"), "orders.*.created"))):
        reply = await request(nats_connection, subject, b'{"id": 7}', **{"X-Order": "seven"})
    assert reply.headers["Pyjinn-Status"] == "200"
    envelope = json.loads(reply.data)
    assert envelope["method"] == "NATS"
    assert envelope["uri"] == subject
    assert envelope["body"] == '{"id": 7}'
    assert envelope["headers"]["X-Pyjinn-Trigger"] == ["nats"]
    assert envelope["headers"]["X-Nats-Subject"] == [subject]
    assert envelope["headers"]["X-Order"] == ["seven"]
    assert envelope["trace_id"]


async def test_a_failing_function_replies_with_its_error_and_status_headers(
    make_app, project, c_guest: Callable, nats_connection: NatsConnection
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    subject = unique("failing.")
    async with serving(make_app(site(unique("fn"), subject, "env FAIL_UNTIL 5"))):
        reply = await request(nats_connection, subject, b"x")
    assert reply.headers["Pyjinn-Status"] == "502"
    assert reply.headers["Nats-Service-Error-Code"] == "502"
    error = json.loads(reply.data)
    assert error["error"] == reply.headers["Nats-Service-Error"]
    assert error["trace_id"]


async def test_a_message_over_max_body_is_refused_without_running_the_function(
    make_app, project, c_guest: Callable, nats_connection: NatsConnection
) -> None:
    project("triggers.wasm", c_guest("triggers"))
    subject = unique("big.")
    async with serving(make_app(site(unique("fn"), subject, "max_body 10"))):
        reply = await request(nats_connection, subject, b"x" * 11)
    assert reply.headers["Pyjinn-Status"] == "413"
    assert json.loads(reply.data)["error"] == "request body exceeds 10 bytes"


async def test_two_processes_answer_each_request_once(
    make_app, project, c_guest: Callable, nats_connection: NatsConnection
) -> None:
    """Two apps with their own connections stand for two worker processes: a queue group
    hands each message to one of them."""
    project("triggers.wasm", c_guest("triggers"))
    subject = unique("shared.")
    name = unique("fn")
    first, second = make_app(site(name, subject)), make_app(site(name, subject))
    client = await nats.connect(
        servers=list(nats_connection.urls),
        user=nats_connection.user,
        password=nats_connection.password,
    )
    try:
        async with serving(first), serving(second):
            await request(nats_connection, subject, b"warm-up")
            inbox = client.new_inbox()
            replies = await client.subscribe(inbox)
            for index in range(20):
                await client.publish(subject, str(index).encode(), reply=inbox)
            received = []
            while len(received) < 20:
                received.append(await replies.next_msg(timeout=10))
            with pytest.raises(nats.errors.TimeoutError):
                await replies.next_msg(timeout=0.5)  # no second answer to any of them
        bodies = sorted(int(json.loads(message.data)["body"]) for message in received)
        assert bodies == list(range(20))
    finally:
        await client.close()


async def test_a_reload_subscribes_new_subjects_and_drops_removed_ones(
    make_app, project, c_guest: Callable, nats_connection: NatsConnection, tmp_path
) -> None:
    from pyjinn.config import loads

    project("triggers.wasm", c_guest("triggers"))
    name, before, after = unique("fn"), unique("before."), unique("after.")
    app = make_app(site(name, before))
    async with serving(app):
        assert (await request(nats_connection, before, b"1")).headers["Pyjinn-Status"] == "200"
        text = "{\n\tadmin off\n}\n" + site(name, after)
        app.replace(app.runtime.successor(loads(text, base_dir=tmp_path, environ={}), None))
        assert (await request(nats_connection, after, b"2")).headers["Pyjinn-Status"] == "200"
        client = await nats.connect(
            servers=list(nats_connection.urls),
            user=nats_connection.user,
            password=nats_connection.password,
        )
        try:
            with pytest.raises(nats.errors.NoRespondersError):
                await client.request(before, b"3", timeout=5)
        finally:
            await client.close()
