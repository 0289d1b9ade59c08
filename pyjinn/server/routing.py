"""From a request's address and path to what answers it: a function, a static response, or nothing.

Sites are chosen by the listening port and, for sites named by a hostname, by the ``Host``
header. Within a site, routes are already ordered by the config loader (most specific matcher
first); the first match wins, descending into nested ``handle`` and ``route`` blocks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pyjinn.config.model import Config, Handler, Route, Site


def bind_host(host: str | None) -> str:
    """The interface a site address listens on: its IP, loopback for localhost, else all."""
    if host is None:
        return "0.0.0.0"
    if host == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return "0.0.0.0"  # a hostname: listen everywhere and match on the Host header


def _is_hostname(host: str | None) -> bool:
    # Asked of the address itself: bind_host gives "0.0.0.0" for the IP 0.0.0.0 too.
    if host is None or host == "localhost":
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return False


@dataclass(frozen=True, slots=True)
class Match:
    """What answers a request, and the path it sees (with a ``handle_path`` prefix removed)."""

    handler: Handler
    path: str


class Router:
    """Finds the site and route for a request."""

    def __init__(self, config: Config) -> None:
        self.sites = config.sites
        # Route tables by the identity of their (frozen, long-lived) route tuples.
        self._tables: dict[int, _RouteTable] = {}
        self._by_port: dict[int, list[tuple[str | None, Site]]] = {}
        for site in config.sites:
            for address in site.addresses:
                host = address.host.lower() if _is_hostname(address.host) and address.host else None
                self._by_port.setdefault(address.port, []).append((host, site))

    def site_for(self, port: int | None, host_header: str | None) -> Site | None:
        candidates = self._by_port.get(port) if port is not None else None
        if candidates is None:
            # Mounted in another ASGI app or served on another port: one site is unambiguous.
            return self.sites[0] if len(self.sites) == 1 else None
        host = (host_header or "").rsplit(":", 1)[0].lower() if host_header else ""
        fallback = None
        for site_host, site in candidates:
            if site_host is None:
                fallback = fallback or site
            elif site_host == host:
                return site
        return fallback

    def match(self, site: Site, path: str) -> Match | None:
        return self._match(site.routes, path)

    def _match(self, routes: tuple[Route, ...], path: str) -> Match | None:
        table = self._tables.get(id(routes))
        if table is None:
            table = self._tables[id(routes)] = _RouteTable(routes)
        route = table.first_match(path)
        if route is None:
            return None
        inner = path
        if route.strip_prefix and route.matcher is not None:
            inner = path[len(route.matcher.prefix.rstrip("/")) :] or "/"
            if not inner.startswith("/"):
                inner = "/" + inner
        if route.handler is not None:
            return Match(route.handler, inner)
        return self._match(route.routes, inner)


class _RouteTable:
    """One block's routes, indexed so that finding the first match does not scan them all.

    The config loader orders routes exact matchers first, then prefixes longest first, then
    routes without a matcher; two routes with the same matcher are refused. So the first match
    is the exact route for the path if there is one, else the route of the longest prefix of the
    path, else the first route without a matcher: dictionary lookups, whatever the count.
    """

    __slots__ = ("exact", "fallback", "longest", "prefixes")

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.exact: dict[str, Route] = {}
        self.prefixes: dict[str, Route] = {}
        self.fallback: Route | None = None
        for route in routes:
            matcher = route.matcher
            if matcher is None:
                self.fallback = self.fallback or route
            elif matcher.is_prefix:
                self.prefixes.setdefault(matcher.prefix, route)
            else:
                self.exact.setdefault(matcher.pattern, route)
        self.longest = max(map(len, self.prefixes), default=0)

    def first_match(self, path: str) -> Route | None:
        route = self.exact.get(path)
        if route is not None:
            return route
        if self.prefixes:
            for length in range(min(len(path), self.longest), -1, -1):
                route = self.prefixes.get(path[:length])
                if route is not None:
                    return route
        return self.fallback
