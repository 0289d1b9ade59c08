"""The triggers of one process: cron lines, MQTT subscriptions and NATS subjects, on the
process's event loop, following the configuration through reloads.

They need NATS (every trigger's events become jobs, or arrive over it): a process whose job
queue could not connect at start-up logs why its triggers do not run, and keeps serving HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyjinn.config.model import Config, MqttBroker, MqttTrigger
from pyjinn.config.triggers import broker_address
from pyjinn.services import MqttEndpoint, Services
from pyjinn.triggers.cron import CronScheduler
from pyjinn.triggers.mqtt import MqttSubscriber
from pyjinn.triggers.nats import NatsSubjects

if TYPE_CHECKING:
    from pyjinn.runtime import Runtime

log = logging.getLogger("pyjinn.triggers")

_MqttKey = tuple[MqttEndpoint, str]


class Triggers:
    """Start, follow and stop the triggers of the configuration being served."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._cron: CronScheduler | None = None
        self._nats: NatsSubjects | None = None
        self._mqtt: dict[_MqttKey, MqttSubscriber] = {}
        self._runtime: Callable[[], Runtime] | None = None
        self._applying: asyncio.Task[None] | None = None

    async def start(self, runtime: Callable[[], Runtime]) -> None:
        """Run the triggers of ``runtime()``'s configuration (call once the jobs started)."""
        config = runtime().config
        jobs = self._services.jobs
        if jobs is None or jobs.queue is None:
            if config.all_triggers():
                log.error(
                    "Cron, MQTT and NATS triggers are not running: they need NATS, which "
                    "could not be reached at start-up."
                )
            return
        self._runtime = runtime
        self._cron = CronScheduler(jobs, runtime)
        self._nats = NatsSubjects(jobs.queue.client, runtime)
        await self.apply(config)

    def reloaded(self, runtime: Runtime) -> None:
        """Follow a reloaded configuration (call on the loop)."""
        if self._runtime is None:
            return
        previous = self._applying
        config = runtime.config

        async def apply() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await self.apply(config)

        self._applying = asyncio.get_running_loop().create_task(apply())

    async def apply(self, config: Config) -> None:
        """Run exactly the triggers of ``config``: unchanged ones keep running undisturbed."""
        if self._cron is None or self._nats is None or self._runtime is None:
            return
        triggers = config.all_triggers()
        self._cron.update(triggers.cron)
        await self._nats.update(triggers.nats)
        await self._update_mqtt(triggers.mqtt)

    async def stop(self, grace: float = 5.0) -> None:
        if self._applying is not None:
            await asyncio.gather(self._applying, return_exceptions=True)
        if self._cron is not None:
            await self._cron.stop()
        for subscriber in self._mqtt.values():
            await subscriber.stop()
        self._mqtt.clear()
        if self._nats is not None:
            await self._nats.stop(grace)
        self._cron = self._nats = self._runtime = None

    async def _update_mqtt(self, triggers: tuple[MqttTrigger, ...]) -> None:
        jobs = self._services.jobs
        assert jobs is not None and self._runtime is not None
        wanted: dict[_MqttKey, list[MqttTrigger]] = {}
        for trigger in triggers:
            endpoint = self._endpoint(trigger.broker)
            if endpoint is not None:
                wanted.setdefault((endpoint, trigger.broker.client_id), []).append(trigger)
        for key in list(self._mqtt):
            if key not in wanted or tuple(wanted[key]) != self._mqtt[key].triggers:
                await self._mqtt.pop(key).stop()
        for key, group in wanted.items():
            if key not in self._mqtt:
                subscriber = MqttSubscriber(key[0], key[1], tuple(group), jobs, self._runtime)
                self._mqtt[key] = subscriber
                subscriber.start()

    def _endpoint(self, broker: MqttBroker) -> MqttEndpoint | None:
        if broker.url is None:
            embedded = self._services.embedded_mqtt
            if embedded is None:
                log.error(
                    "MQTT triggers without mqtt_broker need the embedded nats-server's MQTT "
                    "listener, which is not running; restart pyjinn (or set mqtt_broker)."
                )
            return embedded
        address = broker_address(broker.url)  # checked when the config loaded
        return MqttEndpoint(
            address.host, address.port, broker.username, broker.password, address.tls
        )
