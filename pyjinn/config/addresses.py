"""Listen addresses as written in site blocks and the ``admin`` option.

pyjinn serves plain HTTP, so unlike Caddy it cannot infer a port from a hostname (Caddy would
pick 443 and fetch a certificate): an address must name its port, or say ``http://`` for 80.
"""

from __future__ import annotations

import re

from pyjinn.config.diagnostics import parse_count
from pyjinn.config.model import Address

ADDRESS_FORM = (
    "expected an address like :8080 or host:8080 (pyjinn serves plain HTTP; TLS is not supported)"
)
ADMIN_FORM = "expected an address like 127.0.0.1:2019, or off"
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


def parse_site_address(text: str) -> Address:
    """Parse ``:8080``, ``host:8080``, ``[::1]:8080``, ``http://host[:port]`` or ``http://:8080``.

    Raises ValueError naming the expected form; hostnames are lower-cased so that two spellings
    of one address compare equal.
    """
    rest = text
    scheme, separator, after = text.partition("://")
    if separator:
        if scheme.lower() != "http":
            raise ValueError(ADDRESS_FORM)
        rest = after
    if "/" in rest:
        raise ValueError(
            "pyjinn does not match paths in site addresses; put a handle /path/* block "
            "inside the site instead"
        )
    return _parse_host_port(rest, default_port=80 if separator else None)


def parse_admin_address(text: str) -> Address:
    """Parse the admin listener's ``host:port`` (no scheme, no path)."""
    if "/" in text:
        raise ValueError(ADMIN_FORM)
    try:
        return _parse_host_port(text, default_port=None)
    except ValueError as exc:
        # The generic form talks about site addresses and TLS; say what admin expects.
        raise ValueError(ADMIN_FORM if str(exc) == ADDRESS_FORM else str(exc)) from None


def format_address(address: Address) -> str:
    """The address as it would be written, with brackets around IPv6 hosts."""
    host = address.host or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{address.port}"


def _parse_host_port(text: str, default_port: int | None) -> Address:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise ValueError(ADDRESS_FORM)
        port_text: str | None = rest[1:] if rest else None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            host, port_text = text, None
        if ":" in host or (host and not _HOST.fullmatch(host)):
            raise ValueError(ADDRESS_FORM)
    if port_text is None:
        if default_port is None:
            raise ValueError(ADDRESS_FORM)
        return Address(host.lower() or None, default_port)
    port = parse_count(port_text)
    if port is None or not 1 <= port <= 65535:
        raise ValueError(f"the port must be a number from 1 to 65535, got '{port_text}'")
    return Address(host.lower() or None, port)
