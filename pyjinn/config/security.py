"""The ``security`` block, global or per function, to a checked :class:`TrustPolicy`.

::

    security {
        policy strict                  # strict | audit | off (default when omitted: audit)
        trusted_key {env.PUB_KEY}      # hex or base64; repeatable
        trusted_key_file keys/ci.pub   # a .pub file, relative to the Caddyfile; repeatable
    }

A function's own block replaces the global one as a whole. ``policy`` may be left out, as in
Gojinn, where an empty policy behaves like ``audit``. Error messages describe a bad key by its
length, never by its text, in case a private key was pasted by mistake.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from pyjinn.config.diagnostics import Diagnostics, describe, suggestion
from pyjinn.config.files import PathProblem, kind, resolve
from pyjinn.config.parser import Directive
from pyjinn.errors import SigningError
from pyjinn.signing.keys import PublicKey, parse_public_key, read_public_key_file
from pyjinn.signing.policy import POLICY_MODES, PolicyMode, TrustPolicy

SECURITY_USAGE = (
    "security expects a block (and no arguments) holding policy, trusted_key and "
    "trusted_key_file lines"
)
_SETTINGS = ("policy", "trusted_key", "trusted_key_file")
_USAGE = {
    "policy": "policy expects one of strict, audit or off, like: policy strict",
    "trusted_key": "trusted_key expects one public key (64 hex digits or base64), "
    "like: trusted_key {env.PUB_KEY}",
    "trusted_key_file": "trusted_key_file expects one .pub file, like: trusted_key_file ci.pub",
}
DEFAULT_MODE: PolicyMode = "audit"


def build_security(directive: Directive, base_dir: Path, report: Diagnostics) -> TrustPolicy | None:
    """Check a ``security`` directive; None if anything in it was wrong (reported)."""
    if directive.args or directive.block is None:
        report.error(directive, SECURITY_USAGE)
        return None
    errors_before = len(report.errors)
    mode: PolicyMode | None = None
    policy_line: Directive | None = None
    keys: dict[PublicKey, Directive] = {}
    for setting in directive.block:
        name = setting.name
        if name not in _SETTINGS:
            report.error(
                setting,
                f"unknown directive '{name}' in security block"
                + suggestion(name, _SETTINGS, _SETTINGS),
            )
            continue
        text = report.single_arg(setting, _USAGE[name])
        if text is None:
            continue
        if name == "policy":
            if policy_line is not None:
                report.error(
                    setting,
                    f"'policy' is set twice ({describe(policy_line)} and {describe(setting)})",
                )
                continue
            policy_line = setting
            if text in POLICY_MODES:
                mode = cast(PolicyMode, text)
            else:
                report.error(setting, f"invalid policy '{text}': expected strict, audit or off")
            continue
        key = _read_key(setting, text, base_dir, report)
        if key is None:
            continue
        if key in keys:
            report.error(
                setting,
                f"trusted key id {key.key_id} is given twice ({describe(keys[key])} and "
                f"{describe(setting)})",
            )
        else:
            keys[key] = setting
    mode = mode or DEFAULT_MODE
    if mode == "strict" and not keys and len(report.errors) == errors_before:
        report.error(
            directive,
            "security policy strict needs at least one trusted_key or trusted_key_file",
        )
    if len(report.errors) > errors_before:
        return None
    return TrustPolicy(mode=mode, trusted_keys=tuple(keys))


def _read_key(
    setting: Directive, text: str, base_dir: Path, report: Diagnostics
) -> PublicKey | None:
    try:
        if setting.name == "trusted_key":
            return parse_public_key(text)
        path = resolve(base_dir, text)
        if kind(path) == "other":
            raise PathProblem("it is not a regular file")
        return read_public_key_file(path, name=text)
    except PathProblem as problem:
        report.error(setting, f"invalid trusted_key_file: cannot use {text}: {problem}")
        return None
    except SigningError as error:
        if setting.name == "trusted_key":
            report.error(setting, f"invalid trusted_key: {error}")
        else:
            report.error(setting, f"invalid trusted_key_file: {error}")
        return None
