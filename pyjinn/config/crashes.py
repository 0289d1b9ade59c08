"""Crash record settings: record_crashes, crash_path, crash_retention and record_sample.

::

    {
        record_crashes on              # default: every failed invocation writes a record
        crash_path /var/lib/pyjinn/crashes   # default: DATA_DIR/crashes
        crash_retention 1000 1GiB      # the oldest records go past 1000 or 1 GiB (default)
    }
    :8080 {
        pyjinn /api/* api.wasm {
            record_sample 0.01         # also record 1% of successful invocations
            record_crashes off         # or turn them off for one function
        }
    }

``record_crashes``, ``crash_path`` and ``record_sample`` may be set globally and per function (a
function's setting wins); ``crash_retention`` is global. Gojinn's ``record_crashes true`` and
``crash_path DIR`` in a function block mean the same.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyjinn.config.diagnostics import Diagnostics, parse_count
from pyjinn.config.model import CrashRecords
from pyjinn.config.parser import Directive
from pyjinn.config.units import parse_size

USAGE = {
    "record_crashes": "record_crashes expects on or off, like: record_crashes off",
    "crash_path": "crash_path expects one directory, like: crash_path /var/lib/pyjinn/crashes",
    "crash_retention": "crash_retention expects a number of records and optionally their total "
    "size, like: crash_retention 1000 1GiB",
    "record_sample": "record_sample expects a ratio from 0 to 1, like: record_sample 0.01",
}
# Settings a function block may override; crash_retention is for the whole directory.
CRASH_DIRECTIVES = ("record_crashes", "crash_path", "record_sample")
GLOBAL_CRASH_OPTIONS = (*CRASH_DIRECTIVES, "crash_retention")
_SWITCH = {"on": True, "true": True, "off": False, "false": False}


def build_crash_setting(
    directive: Directive, base_dir: Path, report: Diagnostics
) -> dict[str, Any] | None:
    """The CrashRecords fields one directive sets; None if it was wrong (reported)."""
    name = directive.name
    if name == "crash_retention":
        report.no_block(directive)
        return _retention(directive, report)
    text = report.single_arg(directive, USAGE[name])
    if text is None:
        return None
    if name == "record_crashes":
        if text.lower() not in _SWITCH:
            report.error(
                directive, f"invalid value '{text}' for record_crashes: expected on or off"
            )
            return None
        return {"enabled": _SWITCH[text.lower()]}
    if name == "crash_path":
        return {"path": Path(os.path.abspath(base_dir / text))}
    ratio = _ratio(text)
    if ratio is None:
        report.error(directive, f"invalid ratio '{text}' for record_sample: expected 0 to 1")
        return None
    return {"sample": ratio}


def resolve_crash_records(settings: dict[str, Any], data_dir: Path) -> CrashRecords:
    """The global crash settings, with ``crash_path`` defaulting to ``data_dir/crashes``."""
    return replace(CrashRecords(path=data_dir / "crashes"), **settings)


def _retention(directive: Directive, report: Diagnostics) -> dict[str, Any] | None:
    args = directive.args
    if len(args) not in (1, 2):
        report.error(directive, USAGE["crash_retention"])
        return None
    count = parse_count(args[0])
    if not count:
        report.error(
            directive,
            f"invalid number of records '{args[0]}' for crash_retention: expected a positive "
            "whole number",
        )
        return None
    settings: dict[str, Any] = {"max_records": count}
    if len(args) == 2:
        try:
            size = parse_size(args[1])
        except ValueError as error:
            report.error(directive, f"invalid size '{args[1]}' for crash_retention: {error}")
            return None
        if size <= 0:
            report.error(directive, f"crash_retention size must be more than 0, got '{args[1]}'")
            return None
        settings["max_bytes"] = size
    return settings


def _ratio(text: str) -> float | None:
    try:
        ratio = float(text)
    except ValueError:
        return None
    return ratio if 0.0 <= ratio <= 1.0 else None
