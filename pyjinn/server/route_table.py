"""The route table of a configuration, as ``/status`` and ``pyjinn routes`` show it: per site
and path, what answers (a function with its module digest and grants, or a fixed response)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

from pyjinn.config.model import Config, FunctionSpec, MeaningRoute, Permissions, Route


def describe_grants(permissions: Permissions) -> dict[str, Any]:
    """The grants a function holds, leaving out those it does not (deny by default)."""
    grants: dict[str, Any] = {}
    for item in fields(permissions):
        value = getattr(permissions, item.name)
        if value:
            grants[item.name] = list(value) if isinstance(value, tuple) else value
    return grants


def route_table(config: Config, digests: dict[str, str]) -> list[dict[str, Any]]:
    """One entry per route that answers, in the order the router tries them within a site."""
    table: list[dict[str, Any]] = []
    for site in config.sites:
        addresses = [str(address) for address in site.addresses]
        for path, route in _leaves(site.routes, ""):
            entry: dict[str, Any] = {"site": addresses, "path": path or "*"}
            handler = route.handler
            if isinstance(handler, FunctionSpec):
                entry.update(
                    function=handler.name,
                    module=str(handler.module_path),
                    sha256=digests.get(handler.name),
                    grants=describe_grants(handler.permissions),
                )
            elif isinstance(handler, MeaningRoute):
                names = [target.function for target in handler.targets]
                entry.update(route_by_meaning=names, fallback=handler.fallback)
            elif handler is not None:
                entry.update(respond=handler.status)
            table.append(entry)
    return table


def _leaves(routes: tuple[Route, ...], outer: str) -> Iterator[tuple[str, Route]]:
    """Each answering route with its path: the matchers from the site down, as ``/api/* > /x``
    for a matcher nested in another (tried on what the outer one passes on)."""
    for route in routes:
        pattern = route.matcher.pattern if route.matcher is not None else ""
        path = " > ".join(part for part in (outer, pattern) if part)
        if route.handler is not None:
            yield path, route
        yield from _leaves(route.routes, path)
