"""The trust policy: which modules a function may run, decided once per module content.

``strict`` refuses a module unless a trusted key signed it (and no trusted key's signature on
it fails); ``audit`` serves it anyway and logs a warning naming the file, the key ids and the
reason; ``off`` checks nothing. In every mode a Gojinn signature trailer is removed, since the
module cannot compile with it.

Verification runs when a module loads, never per request, and its outcome is remembered by the
SHA-256 of the file's bytes and the policy, so loading the same content again (another
function, another reload) costs one hash.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pyjinn.errors import ModuleError
from pyjinn.signing.gojinn import without_trailer
from pyjinn.signing.keys import PublicKey
from pyjinn.signing.verify import Verdict, verify_module

log = logging.getLogger("pyjinn.signing")

PolicyMode = Literal["strict", "audit", "off"]
POLICY_MODES: tuple[str, ...] = get_args(PolicyMode)

# Verdicts are small (no module bytes), but a long-running server reloading ever new modules
# must not keep them all.
_MAX_REMEMBERED = 1024


@dataclass(frozen=True)
class TrustPolicy:
    """How a function treats module signatures: ``mode`` and the keys it trusts."""

    mode: PolicyMode = "off"
    trusted_keys: tuple[PublicKey, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in POLICY_MODES:
            raise ValueError(f"unknown policy {self.mode!r}: expected strict, audit or off")
        if self.mode == "strict" and not self.trusted_keys:
            raise ValueError("policy strict needs at least one trusted key")

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key.key_id for key in self.trusted_keys)

    def check(self, path: Path, data: bytes) -> bytes:
        """The WebAssembly bytes to compile from the module file ``path`` holding ``data``.

        Under ``strict`` raises ``ModuleError`` naming the file, the key ids seen and the reason
        (unsigned, tampered, untrusted key, malformed signature section); under ``audit`` logs
        the same as a warning and goes on. A Gojinn trailer is always removed.
        """
        if self.mode == "off":
            return without_trailer(data)
        verdict = _verdict(data, self)
        if verdict.problem is not None:
            if self.mode == "strict":
                reason = f"refused by security policy strict: {verdict.problem}"
                raise ModuleError(str(path), reason)
            log.warning(
                "Serving module %s although it is not trusted (security policy audit): %s.",
                path,
                verdict.problem,
                extra={
                    "file": str(path),
                    "key_id": ", ".join(verdict.key_ids) or None,
                    "reason": verdict.problem,
                },
            )
        else:
            log.debug(
                "Module %s is signed by trusted key id %s.",
                path,
                ", ".join(verdict.trusted_by),
                extra={"file": str(path), "key_id": ", ".join(verdict.trusted_by)},
            )
        return verdict.module_bytes(data)


_verdicts: dict[tuple[bytes, TrustPolicy], Verdict] = {}
_verdicts_guard = threading.Lock()


def _verdict(data: bytes, policy: TrustPolicy) -> Verdict:
    key = (hashlib.sha256(data).digest(), policy)
    # Held while verifying, so two threads loading the same content verify it once; this only
    # happens while modules load, never on a request's path.
    with _verdicts_guard:
        verdict = _verdicts.get(key)
        if verdict is None:
            verdict = verify_module(data, policy.trusted_keys)
            if len(_verdicts) >= _MAX_REMEMBERED:
                del _verdicts[next(iter(_verdicts))]
            _verdicts[key] = verdict
        return verdict
