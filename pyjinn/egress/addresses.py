"""Where an allowed host may be reached: names resolved once, special addresses refused.

A name is resolved once per connection, and the connection is made to the very addresses that
were checked, never to a second answer from DNS: a name cannot pass the check with one address
and then connect to another (DNS rebinding). The check refuses every address that is not a
public unicast address (loopback, private, link-local, shared, reserved, multicast,
unspecified, and the cloud metadata addresses, also when they hide inside IPv6 as a mapped,
6to4, Teredo or NAT64 address), unless:

- that exact address is listed in ``allow_host`` itself (``allow_host 10.0.0.5:8080``), which
  is also how a URL naming an address is allowed in the first place; or
- the name is ``localhost`` (or under ``.localhost``) and the address is loopback: such names
  mean loopback by definition (RFC 6761) and never come from DNS, so listing one allows it.

Every address a name resolves to must pass, not just one: a mixed answer is refused whole.
Resolution is bounded by the request's deadline (the system resolver runs on a small pool of
threads, since ``getaddrinfo`` itself cannot be interrupted).

The resolver is a plain function, ``(host, port) -> addresses``, that a caller may replace: the
tests map made-up names to loopback with one, since a test cannot publish DNS records, while
the sockets, TLS and HTTP stay real.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Sequence

from pyjinn.egress.allow import AllowList, is_address, shown_host
from pyjinn.egress.errors import AddressRefused, EgressTimeout, EgressUnavailable

Resolver = Callable[[str, int], Sequence[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The instance metadata services of the common clouds (AWS, GCP, Azure and OpenStack share the
# first; AWS's IPv6 one; Alibaba's; AWS ECS task metadata).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_RESOLVER_THREADS = 4


def special_address(address: IPAddress) -> str | None:
    """What keeps ``address`` from outbound calls unless it is listed, or None for a public
    unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in _embedded_ipv4(address):
            reason = special_address(embedded)
            if reason is not None:
                return f"{reason} (inside the IPv6 address)"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [mapped for mapped in (address.ipv4_mapped, address.sixtofour) if mapped is not None]
    if address.teredo is not None:
        found.append(address.teredo[1])
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_loopback_name(host: str) -> bool:
    """``localhost`` and the names under it: loopback by definition (RFC 6761)."""
    return host == "localhost" or host.endswith(".localhost")


def check_addresses(host: str, port: int, addresses: Sequence[str], allow: AllowList) -> None:
    """Raise ``AddressRefused`` unless every address ``host`` resolved to may be reached."""
    if not addresses:
        raise EgressUnavailable(f"{host} resolved to no address")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise AddressRefused(f"{host} resolved to {text!r}, not an IP address") from None
        reason = special_address(address)
        if reason is None or allow.covers(str(address), port):
            continue
        if is_loopback_name(host) and address.is_loopback:
            continue
        named = "" if text == host else f"{shown_host(host)} resolved to {address}, "
        raise AddressRefused(
            f"{named}{reason}: outbound calls reach it only when allow_host lists "
            f"{shown_host(str(address), port)} itself"
        )


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for ``host``, each once, in its order."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0]).partition("%")[0]  # an IPv6 scope is not part of it
        if address not in found:
            found.append(address)
    return found


def resolve(host: str, port: int, resolver: Resolver, timeout: float) -> list[str]:
    """The addresses of ``host`` (itself, for an address), within ``timeout`` seconds."""
    if is_address(host):
        return [host]
    if timeout <= 0:
        raise EgressTimeout(f"no time left to resolve {host}")
    future = _pool().submit(resolver, host, port)
    try:
        return [str(address) for address in future.result(timeout)]
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise EgressTimeout(f"{host} did not resolve in time") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise EgressUnavailable(f"cannot resolve {host}: {reason}") from None


_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                _RESOLVER_THREADS, thread_name_prefix="pyjinn-resolve"
            )
        return _executor


def _forget_pool_in_child() -> None:
    # A forked child has none of its parent's threads: it starts a pool of its own if needed.
    global _executor, _executor_lock
    _executor, _executor_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)
