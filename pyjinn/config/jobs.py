"""Directives of the job queues: per function, and in the global options.

::

    {
        job_retention 24h        # how long finished jobs' results are kept
        max_queued_jobs 100000   # per tenant; more are answered 429
        cluster_replicas 3       # copies of each stream and bucket (a NATS cluster)
    }
    :8080 {
        pyjinn /report report.wasm {
            async                # every request is a job: answered 202 at once
            max_attempts 5       # tries in all before the job is dead
            retry_backoff 1s 5m  # first retry after 1s, doubling, at most 5m
        }
    }

A function enqueues jobs for others with ``permissions { jobs_enqueue NAME... }``.
"""

from __future__ import annotations

from dataclasses import replace

from pyjinn.config.diagnostics import Diagnostics, parse_count
from pyjinn.config.model import JobOptions, JobSettings
from pyjinn.config.parser import Directive
from pyjinn.config.units import parse_duration

MAX_ATTEMPTS = 100
MAX_REPLICAS = 5  # JetStream's limit

FUNCTION_USAGE = {
    "async": "async takes no arguments: every request to the function is run as a job",
    "max_attempts": "max_attempts expects one number from 1 to 100, like: max_attempts 5",
    "retry_backoff": "retry_backoff expects one or two durations (first delay, longest), "
    "like: retry_backoff 1s 5m",
}
GLOBAL_USAGE = {
    "job_retention": "job_retention expects one duration, like: job_retention 24h",
    "max_queued_jobs": "max_queued_jobs expects one positive number, like: max_queued_jobs 10000",
    "cluster_replicas": "cluster_replicas expects one number from 1 to 5, like: cluster_replicas 3",
}
FUNCTION_DIRECTIVES = tuple(FUNCTION_USAGE)
GLOBAL_OPTIONS = tuple(GLOBAL_USAGE)


def apply_function_directive(
    directive: Directive, settings: JobSettings, report: Diagnostics
) -> JobSettings:
    """``settings`` with one of the function directives above applied (unchanged on error)."""
    report.no_block(directive)
    name, args = directive.name, directive.args
    if name == "async":
        if args:
            report.error(directive, FUNCTION_USAGE[name])
            return settings
        return replace(settings, always_async=True)
    if name == "max_attempts":
        text = report.single_arg(directive, FUNCTION_USAGE[name])
        count = parse_count(text) if text is not None else None
        if count is None or not 1 <= count <= MAX_ATTEMPTS:
            if text is not None:
                report.error(directive, f"invalid max_attempts '{text}': {FUNCTION_USAGE[name]}")
            return settings
        return replace(settings, max_attempts=count)
    if not 1 <= len(args) <= 2:
        report.error(directive, FUNCTION_USAGE[name])
        return settings
    delays = [_duration(directive, text, report) for text in args]
    if any(delay is None for delay in delays):
        return settings
    first = delays[0] or 0.0
    longest = delays[1] if len(delays) == 2 and delays[1] is not None else max(first, 300.0)
    if first <= 0 or longest < first:
        report.error(
            directive,
            f"invalid retry_backoff: the first delay must be positive and the longest at least "
            f"as long ({FUNCTION_USAGE[name]})",
        )
        return settings
    return replace(settings, retry_backoff=first, retry_backoff_max=longest)


def apply_global_option(
    directive: Directive, options: JobOptions, report: Diagnostics
) -> JobOptions:
    """``options`` with one of the global options above applied (unchanged on error)."""
    name = directive.name
    text = report.single_arg(directive, GLOBAL_USAGE[name])
    if text is None:
        return options
    if name == "job_retention":
        seconds = _duration(directive, text, report)
        if seconds is None:
            return options
        if seconds < 60:
            report.error(directive, f"job_retention {text} is too short: keep results at least 1m")
            return options
        return replace(options, retention=seconds)
    count = parse_count(text)
    if name == "max_queued_jobs":
        if not count:
            report.error(directive, f"invalid max_queued_jobs '{text}': {GLOBAL_USAGE[name]}")
            return options
        return replace(options, max_queued=count)
    if count is None or not 1 <= count <= MAX_REPLICAS:
        report.error(directive, f"invalid cluster_replicas '{text}': {GLOBAL_USAGE[name]}")
        return options
    return replace(options, replicas=count)


def _duration(directive: Directive, text: str, report: Diagnostics) -> float | None:
    try:
        return parse_duration(text)
    except ValueError as error:
        report.error(directive, f"invalid duration '{text}' for {directive.name}: {error}")
        return None
