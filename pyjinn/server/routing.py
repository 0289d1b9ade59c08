"""From a request's address and path to what answers it: a function, a static response, or nothing.

Sites are chosen by the listening port and, for sites named by a hostname, by the ``Host``
header. Within a site, routes are already in Caddy's order (the config loader sorted them); the
first route whose matcher matches wins, descending into nested ``handle``, ``handle_path`` and
``route`` blocks. Matching is ``pyjinn.config.paths``'s rule on the cleaned, case-folded path;
the route tables here look matchers up by the keys they state (``PathMatcher.index_key``).
On the way down, the ``header`` directives whose matchers match are collected.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pyjinn.config.model import Config, Handler, HeaderRule, Route, Site
from pyjinn.config.paths import PathMatcher, RequestPath


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
    """What answers a request (None: nothing does), the path it sees (cleaned, with any
    ``handle_path`` prefix removed), and the ``header`` rules that apply, outermost first."""

    handler: Handler | None
    request_path: RequestPath
    stripped: bool = False
    headers: tuple[HeaderRule, ...] = ()

    @property
    def path(self) -> str:
        return self.request_path.cleaned


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

    def match(self, site: Site, path: str) -> Match:
        """What in ``site`` answers a request for ``path`` (decoded, not yet cleaned)."""
        rules: list[HeaderRule] = []
        return self._match(site.routes, site.headers, RequestPath.of(path), rules, False)

    def _match(
        self,
        routes: tuple[Route, ...],
        headers: tuple[HeaderRule, ...],
        path: RequestPath,
        rules: list[HeaderRule],
        stripped: bool,
    ) -> Match:
        table = self._tables.get(id(routes))
        if table is None:
            table = self._tables[id(routes)] = _RouteTable(routes)
        index = table.first_match(path)
        for rule in headers:
            if rule.position <= index and (rule.matcher is None or rule.matcher.matches(path)):
                rules.append(rule)
        if index == len(routes):
            return Match(None, path, stripped, tuple(rules))
        route = routes[index]
        if route.strip_prefix and route.matcher is not None:
            path, stripped = path.strip(route.matcher.strip_prefix), True
        if route.handler is not None:
            return Match(route.handler, path, stripped, tuple(rules))
        return self._match(route.routes, route.headers, path, rules, stripped)


class _RouteTable:
    """One block's routes, indexed so that finding the first match does not ask every matcher.

    Each matcher states under which key it can be looked up (``PathMatcher.index_key``: its
    folded exact path or prefix); the table looks the folded path up by those keys (one
    dictionary lookup per distinct prefix length) and asks ``matches`` of the matchers that
    have no key. The earliest route found is the answer; ``len(routes)`` means none. That this
    finds what asking every matcher in order would is a property test of its own.
    """

    __slots__ = ("exact", "fallback", "lengths", "prefixes", "routes", "unindexed")

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.routes = routes
        self.exact: dict[str, int] = {}
        self.prefixes: dict[str, int] = {}
        self.unindexed: list[tuple[int, PathMatcher]] = []
        self.fallback = len(routes)
        for index, route in enumerate(routes):
            matcher = route.matcher
            if matcher is None:
                self.fallback = min(self.fallback, index)
                continue
            key = matcher.index_key()
            if key is None:
                self.unindexed.append((index, matcher))
            elif key[0]:
                self.prefixes.setdefault(key[1], index)
            else:
                self.exact.setdefault(key[1], index)
        self.lengths = sorted({len(prefix) for prefix in self.prefixes}, reverse=True)

    def first_match(self, path: RequestPath) -> int:
        folded = path.folded
        best = self.fallback
        hit = self.exact.get(folded)
        if hit is not None and hit < best:
            best = hit
        if self.lengths:
            prefixes, size = self.prefixes, len(folded)
            for length in self.lengths:
                if length <= size:
                    hit = prefixes.get(folded[:length])
                    if hit is not None and hit < best:
                        best = hit
        for index, matcher in self.unindexed:
            if index < best and matcher.matches(path):
                best = index
        return best
