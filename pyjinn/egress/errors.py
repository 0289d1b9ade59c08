"""What can go wrong with an outbound request, as one small tree::

    EgressError                  str() says what and where, never the request body
    ├── EgressDenied             the URL (or a redirect's target) is not allowed; nothing was sent
    │   └── AddressRefused       an allowed host resolved to an address outbound calls may not
    │                            reach (loopback, private, link-local, cloud metadata...)
    ├── EgressTimeout            no complete answer before the deadline
    └── EgressUnavailable        the connection failed, or the answer was malformed
        └── EgressLimit          the answer is over its size cap, or redirects went on too long

Callers that only tell "denied / late / failed" apart (the model's backend) catch the three
middle classes; the HTTP capability also tells the two subclasses apart.
"""

from __future__ import annotations


class EgressError(Exception):
    """An outbound request failed; ``str()`` says what and where, never the request body."""


class EgressDenied(EgressError):
    """The URL (or a redirect's target) is not allowed; nothing was sent to it."""


class AddressRefused(EgressDenied):
    """The host is allowed, but it resolved to an address outbound calls reach only when that
    address is listed itself; no connection was made."""


class EgressTimeout(EgressError):
    """No complete answer before the deadline."""


class EgressUnavailable(EgressError):
    """The connection failed, or the answer was malformed."""


class EgressLimit(EgressUnavailable):
    """The answer is larger than its cap, or the server redirected too many times."""
