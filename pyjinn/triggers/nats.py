"""The NATS subject trigger: a message on a subject runs a function; a request gets the
function's response body as its reply.

Each worker process subscribes in the queue group ``pyjinn.<function>``, so NATS hands each
message to one process of one node. The function runs at once through the invocation pipeline
(slots, limits, metrics, traces, access records), as the tenant it serves by default; nothing is
queued or retried: the requester, who waits for the reply, decides what a failure means.

The guest reads ``{"method": "NATS", "uri": SUBJECT, "path": "/", "headers": the message's
headers and X-Pyjinn-Trigger: nats, X-Nats-Subject, "body": the payload}``. The reply carries
the header ``Pyjinn-Status`` (the function's status); a failure replies with the JSON error an
HTTP client would get and the headers ``Nats-Service-Error`` and ``Nats-Service-Error-Code``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from pyjinn.config.model import NatsTrigger
from pyjinn.errors import RequestRejected
from pyjinn.invocation import Envelope, Invocation, Outcome

if TYPE_CHECKING:
    from pyjinn.runtime import Runtime

log = logging.getLogger("pyjinn.triggers")

METHOD = "NATS"


class NatsSubjects:
    """The nats_subscribe lines of the current configuration, subscribed in this process."""

    def __init__(self, client: Client, runtime: Callable[[], Runtime]) -> None:
        self._client = client
        self._runtime = runtime
        self._subscriptions: dict[NatsTrigger, Subscription] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def update(self, triggers: tuple[NatsTrigger, ...]) -> None:
        """Subscribe to new lines, unsubscribe from removed ones."""
        wanted = set(triggers)
        for trigger in [t for t in self._subscriptions if t not in wanted]:
            with contextlib.suppress(Exception):
                await self._subscriptions.pop(trigger).unsubscribe()
        for trigger in triggers:
            if trigger in self._subscriptions:
                continue
            try:
                self._subscriptions[trigger] = await self._client.subscribe(
                    trigger.subject,
                    queue=f"pyjinn.{trigger.function}",
                    cb=self._receiver(trigger),
                )
            except Exception as error:
                log.error(
                    "Cannot subscribe function %s to NATS subject %s: %s.",
                    trigger.function,
                    trigger.subject,
                    error,
                    extra={"function": trigger.function},
                )

    async def stop(self, grace: float) -> None:
        for subscription in self._subscriptions.values():
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        self._subscriptions.clear()
        if self._running:
            await asyncio.wait(self._running, timeout=grace)

    def _receiver(self, trigger: NatsTrigger) -> Callable[[Msg], Awaitable[None]]:
        async def receive(message: Msg) -> None:
            # nats-py awaits one callback at a time per subscription: run each message apart,
            # so a slow function does not hold up the next request (slots bound them).
            task = asyncio.get_running_loop().create_task(self._handle(trigger, message))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

        return receive

    async def _handle(self, trigger: NatsTrigger, message: Msg) -> None:
        runtime = self._runtime()
        function = runtime.functions.get(trigger.function)
        if function is None:
            return  # removed by a reload that has not unsubscribed yet
        headers = message.headers or {}
        invocation = Invocation(
            function,
            trigger="nats",
            method=METHOD,
            target=message.subject,
            traceparent=headers.get("traceparent"),
        )
        tenant = function.spec.tenant
        limit = function.spec.limits.max_body
        runtime.active += 1
        try:
            if len(message.data) > limit:
                outcome = invocation.refuse(
                    RequestRejected(
                        413,
                        "body_too_large",
                        f"request body exceeds {limit} bytes",
                        f"NATS message of {len(message.data)} bytes on {message.subject} "
                        f"(max_body {limit})",
                    ),
                    tenant,
                )
            else:
                outcome = await invocation.run(runtime, nats_envelope(message), tenant)
        finally:
            runtime.active -= 1
        if message.reply:
            body, reply_headers = reply_of(outcome)
            try:
                await self._client.publish(message.reply, body, headers=reply_headers)
            except Exception as error:
                log.warning("Cannot reply to a request on %s: %s.", message.subject, error)


def nats_envelope(message: Msg) -> Envelope:
    """The request a NATS message hands its guest."""
    headers: list[tuple[bytes, bytes]] = [
        (name.lower().encode("latin-1", "replace"), value.encode("latin-1", "replace"))
        for name, value in (message.headers or {}).items()
    ]
    headers.append((b"x-pyjinn-trigger", b"nats"))
    headers.append((b"x-nats-subject", message.subject.encode()))
    return Envelope(
        method=METHOD, uri=message.subject, path="/", headers=tuple(headers), body=message.data
    )


def reply_of(outcome: Outcome) -> tuple[bytes, dict[str, str]]:
    """The reply to a request: the response body, or the JSON error an HTTP client gets."""
    if outcome.error is None and outcome.response is not None:
        return outcome.response.body, {"Pyjinn-Status": str(outcome.response.status)}
    error = outcome.error
    assert error is not None
    body = json.dumps({"error": error.client_message, "trace_id": outcome.trace_id}).encode()
    status = str(error.status)
    return body, {
        "Pyjinn-Status": status,
        "Nats-Service-Error": error.client_message,
        "Nats-Service-Error-Code": status,
    }
