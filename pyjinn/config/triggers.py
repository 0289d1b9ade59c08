"""Trigger directives (``cron``, ``mqtt_subscribe``, ``nats_subscribe``) and the MQTT broker
settings (``mqtt_broker``, ``mqtt_client_id``, ``mqtt_username``, ``mqtt_password``).

In a function block, Gojinn's place for them, a trigger runs that block's function. Gojinn
writes the module after the spec; pyjinn accepts it when it is the block's own module::

    pyjinn /report report.wasm {
        cron "0 */5 * * * *" report.wasm   # Gojinn's form: six fields, seconds first
        cron "0 3 * * *" {                  # five fields; catch_up runs once after downtime
            catch_up
        }
        mqtt_broker tcp://broker.lan:1883   # else the embedded nats-server's MQTT listener
        mqtt_subscribe sensors/+/temperature
        nats_subscribe orders.created
    }

In the global options a trigger names any function of the config; in a site block, one of
that site's functions (the broker settings in the global options are every block's default)::

    { cron "@hourly" report }
    :8080 { nats_subscribe "orders.*" orders ... }
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from pyjinn.config.diagnostics import Diagnostics, describe
from pyjinn.config.files import PathProblem, resolve
from pyjinn.config.model import (
    Config,
    CronTrigger,
    MqttBroker,
    MqttTrigger,
    NatsTrigger,
    Triggers,
)
from pyjinn.config.parser import Directive
from pyjinn.triggers.schedule import parse_schedule

TRIGGER_DIRECTIVES = ("cron", "mqtt_subscribe", "nats_subscribe")
BROKER_DIRECTIVES = ("mqtt_broker", "mqtt_client_id", "mqtt_username", "mqtt_password")
DIRECTIVES = (*TRIGGER_DIRECTIVES, *BROKER_DIRECTIVES)

FUNCTION_USAGE = {
    "cron": 'cron expects a schedule in quotes, like: cron "*/30 * * * * *" '
    "(optionally the block's module after it, and a block with catch_up)",
    "mqtt_subscribe": "mqtt_subscribe expects a topic filter, like: mqtt_subscribe sensors/+/temp",
    "nats_subscribe": "nats_subscribe expects a subject, like: nats_subscribe orders.created",
    "mqtt_broker": "mqtt_broker expects one broker address, like: mqtt_broker tcp://127.0.0.1:1883",
    "mqtt_client_id": "mqtt_client_id expects one client id, like: mqtt_client_id pyjinn-orders",
    "mqtt_username": "mqtt_username expects one user name, like: mqtt_username pyjinn",
    "mqtt_password": "mqtt_password expects one password, like: mqtt_password {env.MQTT_PASSWORD}",
}
NAMED_USAGE = {
    "cron": 'cron expects a schedule in quotes and a function name, like: cron "@hourly" report',
    "mqtt_subscribe": "mqtt_subscribe expects a topic filter and a function name, like: "
    "mqtt_subscribe sensors/+/temp readings",
    "nats_subscribe": "nats_subscribe expects a subject and a function name, like: "
    "nats_subscribe orders.created orders",
}
_MQTT_SCHEMES = {"tcp": False, "mqtt": False, "ssl": True, "tls": True, "mqtts": True}
_MAX_TOPIC_BYTES = 65535
_MAX_CLIENT_ID = 128
# Subjects pyjinn and NATS use themselves: a function must not consume them.
_RESERVED_SUBJECTS = ("$", "_INBOX.", "pyjinn.")


@dataclass(frozen=True)
class BrokerAddress:
    """A parsed ``mqtt_broker``."""

    host: str
    port: int
    tls: bool


@dataclass(frozen=True)
class PendingTrigger:
    """A trigger line, checked, whose function is known only once its block or the whole
    config is built: ``target`` is the module (in a function block) or function it names."""

    kind: str
    argument: str
    target: str | None
    catch_up: bool
    directive: Directive


def build_trigger(
    directive: Directive, report: Diagnostics, *, named: bool
) -> PendingTrigger | None:
    """Check one trigger line; ``named`` (global options, site blocks): it must name its
    function after the spec, topic or subject."""
    name, args = directive.name, directive.args
    usage = NAMED_USAGE[name] if named else FUNCTION_USAGE[name]
    if len(args) != 2 and (named or len(args) != 1):
        report.error(directive, usage)
        return None
    catch_up = _cron_block(directive, report) if name == "cron" else _no_block(directive, report)
    if catch_up is None:
        return None
    argument = args[0]
    problem = _argument_problem(name, argument)
    if problem is not None:
        report.error(directive, problem)
        return None
    return PendingTrigger(name, argument, args[1] if len(args) == 2 else None, catch_up, directive)


def apply_broker_setting(
    directive: Directive, broker: MqttBroker, report: Diagnostics
) -> MqttBroker:
    """``broker`` with one mqtt_* setting applied (unchanged on error)."""
    name = directive.name
    text = report.single_arg(directive, FUNCTION_USAGE[name])
    if text is None:
        return broker
    if name == "mqtt_broker":
        try:
            broker_address(text)
        except ValueError as error:
            report.error(directive, f"invalid mqtt_broker {text!r}: {error}")
            return broker
        return replace(broker, url=text)
    if name == "mqtt_client_id":
        if not 0 < len(text) <= _MAX_CLIENT_ID or not text.isprintable() or " " in text:
            report.error(
                directive,
                f"invalid mqtt_client_id {text!r}: use 1 to {_MAX_CLIENT_ID} printable "
                "characters without spaces",
            )
            return broker
        return replace(broker, client_id=text)
    if "\0" in text:
        report.error(directive, f"{name} contains a NUL character")
        return broker
    return replace(broker, **{name.removeprefix("mqtt_"): text})


def function_triggers(
    pending: Iterable[PendingTrigger],
    *,
    function: str,
    module_path: Path,
    base_dir: Path,
    broker: MqttBroker,
    report: Diagnostics,
) -> Triggers:
    """The triggers of a function block, now that its name and module are known."""
    found = Triggers()
    for trigger in pending:
        if trigger.target is not None and not _same_module(trigger.target, module_path, base_dir):
            report.error(
                trigger.directive,
                f"{trigger.kind} names module {trigger.target}, but this block runs "
                f"{module_path.name}: a trigger runs the function of its block, so give "
                f"{trigger.target} a block of its own and put the {trigger.kind} line there",
            )
            continue
        found += _made(trigger, function, broker)
    return found


def named_triggers(
    pending: Iterable[tuple[PendingTrigger, frozenset[str] | None]],
    functions: Iterable[str],
    broker: MqttBroker,
    report: Diagnostics,
) -> Triggers:
    """The triggers of the global options (scope None: any function) and site blocks (scope:
    the names of that site's functions)."""
    known = sorted(set(functions))
    found = Triggers()
    for trigger, scope in pending:
        assert trigger.target is not None  # build_trigger(named=True) requires it
        allowed = known if scope is None else sorted(scope)
        if trigger.target not in allowed:
            where = "the config" if scope is None else "this site"
            report.error(
                trigger.directive,
                f"{trigger.kind} names function {trigger.target!r}, but no function of {where} "
                f"has that name (known: {', '.join(allowed) or 'none'})",
            )
            continue
        found += _made(trigger, trigger.target, broker)
    return found


def check_triggers(config: Config, report: Diagnostics) -> None:
    """Problems only the whole config shows: a trigger written twice, and MQTT triggers
    without a broker where no embedded nats-server runs."""
    triggers = config.all_triggers()
    seen: dict[object, CronTrigger | MqttTrigger | NatsTrigger] = {}
    every: list[CronTrigger | MqttTrigger | NatsTrigger] = [
        *triggers.cron,
        *triggers.mqtt,
        *triggers.nats,
    ]
    for trigger in every:
        # Locations do not take part in equality; catch_up does not make a second schedule.
        key = replace(trigger, catch_up=False) if isinstance(trigger, CronTrigger) else trigger
        first = seen.setdefault(key, trigger)
        if first is not trigger and trigger.location is not None:
            report.error_at(
                trigger.location,
                f"this trigger of function {trigger.function!r} is written twice "
                f"({first.location} and {trigger.location}); it would run the function twice "
                "for each event",
            )
    if config.options.nats_urls:
        for mqtt in triggers.mqtt:
            if mqtt.broker.url is None and mqtt.location is not None:
                report.error_at(
                    mqtt.location,
                    "mqtt_subscribe without mqtt_broker uses the embedded nats-server's MQTT "
                    "listener, which does not run with nats_url; name the broker with "
                    "mqtt_broker",
                )


def broker_address(url: str) -> BrokerAddress:
    """``tcp://host:1883``, ``mqtt://host``, ``ssl://host:8883`` (``tls://``, ``mqtts://``),
    or ``host[:port]``; raises ValueError with the expected form."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "tcp", url
    scheme = scheme.lower()
    if scheme not in _MQTT_SCHEMES:
        raise ValueError(
            f"unsupported scheme {scheme!r}; expected tcp://, mqtt://, ssl://, tls:// or mqtts://"
        )
    tls = _MQTT_SCHEMES[scheme]
    if "/" in rest or "@" in rest or not rest:
        raise ValueError("expected HOST or HOST:PORT after the scheme, like tcp://127.0.0.1:1883")
    if rest.startswith("["):
        host, _, port_text = rest[1:].partition("]")
        port_text = port_text.removeprefix(":")
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    else:
        host, port_text = rest, ""
    if not host:
        raise ValueError("the host is missing, like tcp://127.0.0.1:1883")
    port = 8883 if tls else 1883
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"invalid port {port_text!r}: expected a number from 1 to 65535")
        port = int(port_text)
    return BrokerAddress(host, port, tls)


def topic_filter_problem(topic: str) -> str | None:
    """Why ``topic`` is not a valid MQTT topic filter, or None."""
    if not topic:
        return "it is empty"
    if len(topic.encode("utf-8", "surrogatepass")) > _MAX_TOPIC_BYTES:
        return f"it is longer than {_MAX_TOPIC_BYTES} bytes"
    if "\0" in topic:
        return "it contains a NUL character"
    if topic.startswith(("$share/", "$queue/")):
        return (
            "shared subscriptions are pyjinn's to make; subscribe to the topic itself "
            "(one process of the deployment receives each message)"
        )
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' must be a whole level and the last one, like sensors/#"
        if "+" in level and level != "+":
            return "'+' must be a whole level, like sensors/+/temperature"
    return None


def subject_problem(subject: str) -> str | None:
    """Why ``subject`` is not a NATS subject (with wildcards) a function may consume, or None."""
    if not subject or any(character.isspace() for character in subject):
        return "it must be non-empty, without spaces"
    tokens = subject.split(".")
    for index, token in enumerate(tokens):
        if not token:
            return "it has an empty token (two dots, or a dot at an end)"
        if ">" in token and (token != ">" or index != len(tokens) - 1):
            return "'>' must be a whole token and the last one, like orders.>"
        if "*" in token and token != "*":
            return "'*' must be a whole token, like orders.*.created"
    if subject.startswith(_RESERVED_SUBJECTS) or tokens[0] in ("*", ">"):
        return (
            "it would take messages NATS or pyjinn use themselves ($..., _INBOX..., "
            "pyjinn...); start it with a name of your own, like orders.>"
        )
    return None


def _argument_problem(kind: str, argument: str) -> str | None:
    if kind == "cron":
        try:
            parse_schedule(argument)
        except ValueError as error:
            return f"invalid cron schedule {argument!r}: {error}"
        return None
    if kind == "mqtt_subscribe":
        problem = topic_filter_problem(argument)
        return f"invalid topic filter {argument!r}: {problem}" if problem else None
    problem = subject_problem(argument)
    return f"invalid subject {argument!r}: {problem}" if problem else None


def _cron_block(directive: Directive, report: Diagnostics) -> bool | None:
    """Whether the cron line's block says catch_up; None if the block is wrong (reported)."""
    catch_up = False
    for sub in directive.block or ():
        if sub.name != "catch_up":
            report.error(sub, f"unknown cron option '{sub.name}': expected catch_up")
            return None
        if sub.args or sub.block is not None:
            report.error(sub, "catch_up takes no arguments")
            return None
        if catch_up:
            report.error(sub, f"catch_up is set twice ({describe(sub)})")
            return None
        catch_up = True
    return catch_up


def _no_block(directive: Directive, report: Diagnostics) -> bool | None:
    if directive.block is not None:
        report.no_block(directive)
        return None
    return False


def _same_module(text: str, module_path: Path, base_dir: Path) -> bool:
    try:
        return resolve(base_dir, text) == module_path
    except PathProblem:
        return False


def _made(trigger: PendingTrigger, function: str, broker: MqttBroker) -> Triggers:
    location = trigger.directive.location
    if trigger.kind == "cron":
        return Triggers(cron=(CronTrigger(function, trigger.argument, trigger.catch_up, location),))
    if trigger.kind == "mqtt_subscribe":
        return Triggers(mqtt=(MqttTrigger(function, trigger.argument, broker, location),))
    return Triggers(nats=(NatsTrigger(function, trigger.argument, location),))
