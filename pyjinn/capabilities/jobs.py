"""The jobs capability: a function enqueues jobs of other functions, as ``jobs_enqueue`` allows.

A job is enqueued for the caller's tenant, with its payload as the body of the request the job
hands its function (Gojinn's shape: ``method`` ``ASYNC``, ``uri`` ``internal://async/job``,
header ``X-Source: internal``). It is stored in the tenant's job stream before the call
returns. Gojinn's ``host_enqueue`` names the target by module file; pyjinn also accepts a
function name there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pyjinn.abi import ErrorCode
from pyjinn.capabilities import grants
from pyjinn.capabilities.base import Call, HostCallError
from pyjinn.config.model import FunctionSpec, Permissions
from pyjinn.jobs import internal_envelope
from pyjinn.jobs.queue import QueueFull, QueueUnavailable
from pyjinn.services import Services

MAX_IDEMPOTENCY_KEY = 256


class Jobs:
    name = "jobs"

    def __init__(self, services: Services, functions: Mapping[str, FunctionSpec]) -> None:
        self.services = services
        self.functions = functions
        # Gojinn names a target by its module file: "report.wasm" (or "report").
        self._by_file: dict[str, str] = {}
        for spec in functions.values():
            self._by_file.setdefault(spec.module_path.name, spec.name)
            self._by_file.setdefault(spec.module_path.stem, spec.name)

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None:
        denied = grants.denial(permissions, call)
        if denied is not None:
            return denied
        target = self._target(arguments[0]) if call == "host_enqueue" else arguments[0]
        if permissions.allows_enqueue(target):
            return None
        return f"jobs_enqueue does not name function {target[:80]!r}"

    def _target(self, name: str) -> str:
        if name in self.functions:
            return name
        return self._by_file.get(name, self._by_file.get(os.path.basename(name), name))

    def job_enqueue(
        self, call: Call, function: str, payload: tuple[int, int], idempotency_key: str
    ) -> bytes:
        spec = self.functions.get(function)
        if spec is None:
            raise HostCallError(ErrorCode.NOT_FOUND, f"no function named {function[:80]!r}")
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise HostCallError(
                ErrorCode.INVALID,
                f"an idempotency key is at most {MAX_IDEMPOTENCY_KEY} characters",
            )
        body = call.read(payload, spec.limits.max_body, "a job payload")  # the target's max_body
        jobs = self.services.jobs
        if jobs is None or not jobs.ready:
            raise HostCallError(ErrorCode.UNAVAILABLE, "jobs are unavailable in this process")
        context = call.context
        try:
            record, _ = jobs.enqueue_from_thread(
                spec.name,
                call.tenant,
                internal_envelope(body),
                idempotency_key=idempotency_key or None,
                traceparent=f"00-{context.trace_id}-{os.urandom(8).hex()}-00"
                if context.trace_id
                else None,
                timeout=call.budget(),
            )
        except QueueFull as error:
            raise HostCallError(ErrorCode.LIMIT, str(error)) from None
        except QueueUnavailable as error:
            raise HostCallError(ErrorCode.UNAVAILABLE, str(error)) from None
        return record.job_id.encode()

    def host_enqueue(self, call: Call, file: str, payload: tuple[int, int]) -> None:
        self.job_enqueue(call, self._target(file), payload, "")
