"""The ``tracing`` global option and the ``debug_secret`` function directive.

::

    {
        tracing otlp http://127.0.0.1:4318 {   # OTLP/HTTP; /v1/traces is added to a base URL
            sample 0.1                         # record 10% of new traces
        }
    }

``tracing otlp`` without a URL exports where the standard ``OTEL_EXPORTER_OTLP_*`` variables say
(or to http://localhost:4318); ``tracing off`` turns tracing off whatever the environment says.
Without the option, the environment decides (see docs/observability.md).
"""

from __future__ import annotations

from pyjinn.config.diagnostics import Diagnostics
from pyjinn.config.model import Tracing
from pyjinn.config.parser import Directive

TRACING_USAGE = (
    "tracing expects otlp with an optional endpoint URL, or off, like: "
    "tracing otlp http://127.0.0.1:4318"
)
DEBUG_SECRET_USAGE = "debug_secret expects one secret, like: debug_secret {env.DEBUG_SECRET}"
MIN_DEBUG_SECRET = 16
_URL_SCHEMES = ("http://", "https://")


def build_tracing(option: Directive, report: Diagnostics) -> Tracing | None:
    """The Tracing a ``tracing`` option describes; None if it was wrong (reported)."""
    args = option.args
    if not args or args[0] not in ("otlp", "off") or len(args) > 2:
        report.error(option, TRACING_USAGE)
        return None
    if args[0] == "off":
        if len(args) > 1:
            report.error(option, "tracing off takes no endpoint")
            return None
        report.no_block(option)
        return Tracing(mode="off")
    endpoint = args[1] if len(args) > 1 else None
    if endpoint is not None and (
        not endpoint.startswith(_URL_SCHEMES) or len(endpoint) <= len("https://")
    ):
        report.error(
            option,
            f"invalid OTLP endpoint {endpoint!r}: expected an http:// or https:// URL, "
            "like http://127.0.0.1:4318",
        )
        return None
    sample: float | None = None
    valid = True
    for line in option.block or ():
        if line.name != "sample":
            report.error(line, f"unknown tracing setting '{line.name}' (supported: sample)")
            valid = False
            continue
        text = report.single_arg(line, "sample expects a ratio from 0 to 1, like: sample 0.1")
        ratio = _ratio(text) if text is not None else None
        if ratio is None:
            if text is not None:
                report.error(line, f"invalid sample ratio '{text}': expected a number from 0 to 1")
            valid = False
        else:
            sample = ratio
    if not valid:
        return None
    return Tracing(mode="otlp", endpoint=endpoint, sample=sample)


def _ratio(text: str) -> float | None:
    try:
        ratio = float(text)
    except ValueError:
        return None
    return ratio if 0.0 <= ratio <= 1.0 else None


def build_debug_secret(
    directive: Directive, report: Diagnostics, *, gojinn: bool = False
) -> str | None:
    """A function's debug secret; None if it was wrong (reported). Messages never quote it.
    A short secret is refused, except in a ``gojinn`` block, where it loads with a warning."""
    secret = report.single_arg(directive, DEBUG_SECRET_USAGE)
    if secret is None:
        return None
    if len(secret) < MIN_DEBUG_SECRET:
        message = (
            f"debug_secret is too short ({len(secret)} characters): use at least "
            f"{MIN_DEBUG_SECRET}, like a random token from 'openssl rand -hex 16'"
        )
        if not gojinn:
            report.error(directive, message)
            return None
        report.warn(
            directive, f"{message} (loaded because this is a gojinn block: it can be guessed)"
        )
    if not secret.isascii() or not secret.isprintable():
        report.error(
            directive,
            "debug_secret must be printable ASCII (it travels in an HTTP header)",
        )
        return None
    return secret
