"""The MQTT trigger: each message on a subscribed topic runs a function, as a job; a QoS 1
message is acknowledged only once that job has ended (succeeded, or dead after its attempts).

One connection per broker and client id, held by one process of the whole deployment (every
worker of every node sharing the NATS server): the processes elect it through a lease
(:mod:`pyjinn.triggers.lease`). Its session is persistent (``clean_session`` off), so QoS 1
messages the broker sent but that were not acknowledged yet, and those published while no
process was connected, come again when the next holder connects with the same client id. Each
message becomes a job (stored in JetStream, run by any worker, retried with the function's
backoff, moved to the dead letters after ``max_attempts``), and is acknowledged when the job's
record says it ended; acknowledgements go out in the order the messages came, as MQTT asks.
Delivery is at least once: a message whose job ran but whose acknowledgement was lost (a
process or connection died in between) runs again.

The client is paho-mqtt (MQTT 3.1.1, which Mosquitto and nats-server both speak) on its own
network thread; it reconnects by itself, waiting 1 s, then twice as long each time, at most
30 s. What the guest reads: Gojinn's internal request (``method`` ``ASYNC``, ``uri``
``internal://async/job``, ``X-Source: internal``) with the headers ``X-Pyjinn-Trigger: mqtt``,
``X-Mqtt-Topic`` (percent-encoded beyond ASCII), ``X-Mqtt-Qos``, ``X-Mqtt-Retain``
(``true``/``false``), and the payload as the body (base64 with ``body_encoding`` when it is
not UTF-8).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from pyjinn.config.model import MqttTrigger
from pyjinn.invocation import Envelope
from pyjinn.jobs import FINISHED, internal_envelope
from pyjinn.jobs.queue import QueueFull, QueueUnavailable
from pyjinn.services import MqttEndpoint
from pyjinn.triggers.lease import Lease

if TYPE_CHECKING:
    from pyjinn.jobs.service import Jobs
    from pyjinn.runtime import Runtime

log = logging.getLogger("pyjinn.triggers")

SUBSCRIBE_QOS = 1
KEEPALIVE = 30
_RECONNECT = (1, 30)  # seconds: paho's first and longest wait between connection attempts
_POLL = (0.01, 0.25)  # seconds: first and longest wait between looks at a job's record
_ENQUEUE_RETRY = (0.5, 5.0)
# Header values are Latin-1: a topic beyond ASCII travels percent-encoded (UTF-8), like a URL.
_TOPIC_SAFE = "/+#$!&'()*,;=:@-._~"


@dataclass
class _Received:
    """A message in the order it came, until it may be acknowledged."""

    mid: int
    qos: int
    generation: int  # the connection it came on: a packet id means nothing on another
    done: bool = False


class MqttSubscriber:
    """The subscriptions of one broker and client id, in whichever process holds their lease."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        triggers: tuple[MqttTrigger, ...],
        jobs: Jobs,
        runtime: Callable[[], Runtime],
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.triggers = triggers
        self._jobs = jobs
        self._runtime = runtime
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._generation = 0  # written by paho's thread, read on the loop
        self._received: collections.deque[_Received] = collections.deque()
        self._handling: set[asyncio.Task[None]] = set()
        self.where = f"{endpoint.host}:{endpoint.port}"

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"pyjinn-mqtt-{self.client_id}")

    async def stop(self) -> None:
        """Disconnect; messages not acknowledged yet come again to the next connection."""
        self._stopping.set()
        for task in self._handling:
            task.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        queue = self._jobs.queue
        if queue is None:
            return
        name = hashlib.sha256(
            f"{self.endpoint.host}\0{self.endpoint.port}\0{self.client_id}".encode()
        ).hexdigest()[:32]
        lease = Lease(queue.js, f"mqtt.{name}", replicas=queue.options.replicas)
        try:
            while not self._stopping.is_set():
                if not await lease.hold(self._stopping):
                    break
                await self._connected_while(lease)
        finally:
            await lease.release()

    async def _connected_while(self, lease: Lease) -> None:
        """Be connected and subscribed while this process holds the lease."""
        client = self._client = self._make_client()
        client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=KEEPALIVE)
        client.loop_start()
        log.info(
            "Connecting to the MQTT broker %s as %s for %s.",
            self.where,
            self.client_id,
            ", ".join(sorted({trigger.topic for trigger in self.triggers})),
        )
        try:
            await lease.keep(self._stopping)
        finally:
            self._client = None
            client.disconnect()
            # loop_stop joins paho's thread: not on the event loop.
            await asyncio.get_running_loop().run_in_executor(None, client.loop_stop)

    def _make_client(self) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=True,
        )
        if self.endpoint.username is not None:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        if self.endpoint.tls:
            client.tls_set_context(ssl.create_default_context())
        client.reconnect_delay_set(*_RECONNECT)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    # -- paho's thread ------------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _data: Any, flags: Any, code: Any, _p: Any) -> None:
        if code.is_failure:
            log.error("The MQTT broker %s refused the connection: %s.", self.where, code)
            return
        self._generation += 1
        log.info("Connected to the MQTT broker %s as %s.", self.where, self.client_id)
        for topic in sorted({trigger.topic for trigger in self.triggers}):
            client.subscribe(topic, qos=SUBSCRIBE_QOS)

    def _on_connect_fail(self, _client: paho.Client, _data: Any) -> None:
        log.warning(
            "Cannot reach the MQTT broker %s; trying again (every %d s at most).",
            self.where,
            _RECONNECT[1],
        )

    def _on_disconnect(self, _client: paho.Client, _data: Any, _f: Any, code: Any, _p: Any) -> None:
        if not self._stopping.is_set():
            log.warning("Lost the MQTT broker %s (%s); reconnecting.", self.where, code)

    def _on_subscribe(
        self, _client: paho.Client, _data: Any, _mid: int, codes: Any, _p: Any
    ) -> None:
        for code in codes:
            if code.is_failure:
                log.error("The MQTT broker %s refused a subscription: %s.", self.where, code)

    def _on_message(self, _client: paho.Client, _data: Any, message: paho.MQTTMessage) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._receive, message, self._generation)

    # -- the event loop -----------------------------------------------------------------------

    def _receive(self, message: paho.MQTTMessage, generation: int) -> None:
        received = _Received(message.mid, message.qos, generation)
        self._received.append(received)
        task = asyncio.get_running_loop().create_task(self._handle(message, received))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _handle(self, message: paho.MQTTMessage, received: _Received) -> None:
        topic = _topic(message)
        functions = sorted(
            {t.function for t in self.triggers if paho.topic_matches_sub(t.topic, topic)}
        )
        envelope = mqtt_envelope(topic, message.qos, message.retain, bytes(message.payload))
        await asyncio.gather(*(self._run_job(function, envelope) for function in functions))
        received.done = True
        self._acknowledge_in_order()

    async def _run_job(self, function_name: str, envelope: Envelope) -> None:
        """Enqueue the message's job (trying until it is stored), then wait for its end."""
        wait = _ENQUEUE_RETRY[0]
        while True:
            function = self._runtime().functions.get(function_name)
            if function is None:
                return  # removed by a reload
            try:
                record, _ = await self._jobs.enqueue(function_name, function.spec.tenant, envelope)
                break
            except (QueueUnavailable, QueueFull) as error:
                log.warning(
                    "Cannot store the job of an MQTT message for %s (%s); trying again.",
                    function_name,
                    error,
                    extra={"function": function_name},
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, _ENQUEUE_RETRY[1])
        await self._finished(record.job_id)

    async def _finished(self, job_id: str) -> None:
        queue = self._jobs.queue
        wait = _POLL[0]
        while queue is not None:
            try:
                record = await queue.record(job_id)
            except QueueUnavailable:
                record = None
            else:
                if record is None or record.status in FINISHED:
                    return  # ended (or its record is gone: nothing left to wait for)
            await asyncio.sleep(wait)
            wait = min(wait * 1.5, _POLL[1])

    def _acknowledge_in_order(self) -> None:
        client = self._client
        while self._received and self._received[0].done:
            received = self._received.popleft()
            if received.qos > 0 and client is not None and received.generation == self._generation:
                client.ack(received.mid, received.qos)


def mqtt_envelope(topic: str, qos: int, retain: bool, payload: bytes) -> Envelope:
    """The request an MQTT message hands its guest."""
    envelope = internal_envelope(payload)
    extra = (
        (b"x-pyjinn-trigger", b"mqtt"),
        (b"x-mqtt-topic", quote(topic, safe=_TOPIC_SAFE).encode("ascii")),
        (b"x-mqtt-qos", str(qos).encode()),
        (b"x-mqtt-retain", b"true" if retain else b"false"),
    )
    return replace(envelope, headers=(*envelope.headers, *extra))


def _topic(message: paho.MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:  # MQTT requires UTF-8 topics; a broker could still send others
        raw: bytes = message._topic
        return raw.decode("utf-8", "replace")
