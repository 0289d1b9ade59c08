"""Configuration reload: all or nothing, and the running version keeps serving until it succeeds.

A reload reads the Caddyfile again, builds a new runtime (reusing the engine and every module
whose content did not change), and loads every module — compiling, linking, checking imports and
signatures — before anything is swapped. Any problem refuses the whole reload with the same
messages start-up would print; requests keep being served by the previous configuration.
Requests already in flight finish on the runtime they started with.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyjinn.config import load
from pyjinn.config.model import Address, Config
from pyjinn.errors import ConfigError, ConfigErrors
from pyjinn.release import ModuleSource, Release
from pyjinn.server.app import PyjinnApp
from pyjinn.server.routing import bind_host
from pyjinn.services import unavailable_for

log = logging.getLogger("pyjinn.server")


def listen_addresses(config: Config) -> frozenset[tuple[str, int]]:
    """Every interface and port the config's sites listen on."""
    return frozenset(
        (bind_host(address.host), address.port)
        for site in config.sites
        for address in site.addresses
    )


def listening_on(
    host: str | None, port: int | None, admin: Address | bool | None = True
) -> Callable[[Config], Config]:
    """What ``pyjinn up --listen HOST:PORT`` (or ``--port PORT``) does to a configuration:
    every site listens there instead (``port`` alone keeps each site's host; neither keeps
    the sites as they are). ``admin`` is ``--admin``: an address, None (off), or True to keep
    the configuration's."""

    def override(config: Config) -> Config:
        if not isinstance(admin, bool):
            config = replace(config, options=replace(config.options, admin=admin))
        if host is None and port is None:
            return config
        sites = tuple(
            replace(
                site,
                addresses=tuple(
                    Address(host if host is not None else address.host, port or address.port)
                    for address in site.addresses
                ),
            )
            for site in config.sites
        )
        return replace(config, sites=sites)

    return override


def load_for_reload(
    path: Path, running: Config, adjust: Callable[[Config], Config] | None = None
) -> Config | list[str]:
    """The new config (as ``adjust`` changes it: a command-line override), or the problems
    that refuse it (as FILE:LINE messages)."""
    try:
        config = load(path)
    except ConfigErrors as errors:
        return [str(error) for error in errors.errors]
    except ConfigError as error:
        return [str(error)]
    if adjust is not None:
        config = adjust(config)
    if listen_addresses(config) != listen_addresses(running):
        return ["the listening addresses changed; restart pyjinn to listen on new addresses"]
    if config.options.servers != running.options.servers:
        return [
            "the servers option (timeouts, max_connections) changed; restart pyjinn to apply it"
        ]
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


@dataclass
class ReloadOutcome:
    """What a reload did: applied with these module versions, or refused with these problems."""

    problems: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return not self.problems


async def reload_app(app: PyjinnApp, source: Path | Release) -> ReloadOutcome:
    """Reload ``app`` from the Caddyfile at ``source`` (modules read from their files), or
    switch it to a ``Release`` the supervisor has checked."""
    if isinstance(source, Release):
        loaded: Config | list[str] = source.config
        modules: ModuleSource | None = source
    else:
        loaded, modules = load_for_reload(source, app.runtime.config), None
    if isinstance(loaded, list):
        return ReloadOutcome(problems=loaded)
    problem = unavailable_for(loaded, app.runtime.services)
    if problem is not None:
        return ReloadOutcome(problems=[problem])
    runtime = app.runtime.successor(loaded, modules)
    # Compiling may take a while (a new Go module: seconds); the event loop keeps serving.
    problems = await asyncio.get_running_loop().run_in_executor(None, runtime.load_all)
    if problems:
        runtime.close()
        return ReloadOutcome(problems=problems)
    app.replace(runtime)
    return ReloadOutcome(
        digests={name: function.module.digest for name, function in runtime.functions.items()}
    )


def log_outcome(outcome: ReloadOutcome, path: Path) -> None:
    if outcome.applied:
        log.info("Reloaded %s: %d function(s).", path, len(outcome.digests))
        return
    for problem in outcome.problems:
        log.error("Reload refused: %s", problem)
    log.error("Reload of %s refused; still serving the previous configuration.", path)
