"""What a process needs for its triggers, checked before a reload is applied."""

from __future__ import annotations

from pathlib import Path

from pyjinn.config import loads
from pyjinn.services import MqttEndpoint, NatsConnection, Services, unavailable_for


def test_a_reload_that_needs_the_embedded_mqtt_listener_asks_for_a_restart(
    tmp_path: Path,
) -> None:
    (tmp_path / "fn.wat").write_text('(module (func (export "_start")))')
    config = loads(
        ":8080 {\n\tpyjinn fn.wat {\n\t\tmqtt_subscribe a/b\n\t}\n}\n", base_dir=tmp_path
    )
    services = Services(NatsConnection(("nats://127.0.0.1:4222",)))
    problem = unavailable_for(config, services)
    assert problem is not None and "restart pyjinn" in problem
    services.embedded_mqtt = MqttEndpoint("127.0.0.1", 1883)
    assert unavailable_for(config, services) is None


def test_a_broker_of_its_own_needs_no_embedded_listener(tmp_path: Path) -> None:
    (tmp_path / "fn.wat").write_text('(module (func (export "_start")))')
    config = loads(
        ":8080 {\n\tpyjinn fn.wat {\n\t\tmqtt_broker tcp://127.0.0.1:1883\n"
        "\t\tmqtt_subscribe a/b\n\t}\n}\n",
        base_dir=tmp_path,
    )
    assert unavailable_for(config, Services(NatsConnection(("nats://127.0.0.1:4222",)))) is None
