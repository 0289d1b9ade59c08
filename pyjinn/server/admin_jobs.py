"""The admin listener's job endpoints, for operators and ``pyjinn jobs``.

Read-only (open on the loopback listener)::

    GET  /jobs?function=F&status=S&tenant=T&limit=N   newest first
    GET  /jobs/<job_id>

Changing state (``Authorization: Bearer <admin token>``, see ``pyjinn.server.credential``)::

    POST /jobs/<job_id>/retry                           a dead job runs again
    POST /jobs/retry-dead?tenant=T&function=F           every dead job (of T, of F) runs again
    POST /jobs/purge-dead?tenant=T&function=F           dead letters dropped
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from pyjinn.config.model import JobOptions
from pyjinn.jobs import DEAD, STATUSES
from pyjinn.jobs.queue import JobQueue, QueueUnavailable
from pyjinn.server.asgi import Scope, header, send_json
from pyjinn.server.credential import is_authorized
from pyjinn.services import NatsConnection

PREFIX = "/jobs"
MAX_LIST = 10_000


class JobsAdmin:
    """Job endpoints over a connection of the admin process's own, made on first use."""

    def __init__(
        self,
        nats: NatsConnection,
        options: JobOptions,
        token: str,
        tenants: Callable[[], set[str]],
    ) -> None:
        self._nats = nats
        self._options = options
        self._token = token
        self._tenants = tenants
        self._queue: JobQueue | None = None

    async def _connected(self) -> JobQueue:
        if self._queue is None:
            queue = JobQueue(self._nats, self._options, ack_wait=30.0)
            await queue.connect()
            self._queue = queue
        return self._queue

    async def close(self) -> None:
        if self._queue is not None:
            await self._queue.close()

    async def dead_letters(self) -> dict[str, int]:
        """Dead letters by tenant (for the metrics)."""
        queue = await self._connected()
        return {tenant: (await queue.depth(tenant))[1] for tenant in sorted(self._tenants())}

    async def handle(self, scope: Scope, send: Any) -> None:
        path, method = scope["path"], scope["method"]
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        try:
            queue = await self._connected()
            if method in ("GET", "HEAD"):
                await self._read(queue, path, query, send)
                return
            if method != "POST":
                await send_json(
                    send, 405, {"error": "use GET to read jobs, POST to change them"}, indent=2
                )
                return
            if not is_authorized(header(scope, b"authorization"), self._token):
                await send_json(
                    send,
                    401,
                    {"error": "changing jobs needs the admin token: Authorization: Bearer TOKEN"},
                    indent=2,
                )
                return
            await self._change(queue, path, query, send)
        except QueueUnavailable as error:
            await send_json(send, 503, {"error": f"jobs are unavailable: {error}"}, indent=2)

    async def _read(self, queue: JobQueue, path: str, query: dict[str, str], send: Any) -> None:
        if path == PREFIX:
            status = query.get("status")
            if status is not None and status not in STATUSES:
                await send_json(
                    send, 400, {"error": f"status must be one of {', '.join(STATUSES)}"}, indent=2
                )
                return
            limit = _limit(query.get("limit"))
            records = await queue.list_records(
                tenant=query.get("tenant"),
                function=query.get("function"),
                status=status,
                limit=limit,
            )
            await send_json(send, 200, {"jobs": [record.public() for record in records]}, indent=2)
            return
        record = await queue.record(path[len(PREFIX) + 1 :])
        if record is None:
            await send_json(send, 404, {"error": "no such job"}, indent=2)
        else:
            await send_json(send, 200, record.public(), indent=2)

    async def _change(self, queue: JobQueue, path: str, query: dict[str, str], send: Any) -> None:
        tenant, function = query.get("tenant"), query.get("function")
        tenants = [tenant] if tenant is not None else sorted(self._tenants())
        if path == f"{PREFIX}/retry-dead":
            retried = []
            for name in tenants:
                for record in await queue.list_records(
                    tenant=name, function=function, status=DEAD, limit=MAX_LIST
                ):
                    retried.append((await queue.retry(record)).job_id)
            await send_json(send, 200, {"retried": retried}, indent=2)
        elif path == f"{PREFIX}/purge-dead":
            purged = 0
            for name in tenants:
                purged += await queue.purge_dead(name, function)
            await send_json(send, 200, {"purged": purged}, indent=2)
        elif path.startswith(f"{PREFIX}/") and path.endswith("/retry"):
            found = await queue.record(path[len(PREFIX) + 1 : -len("/retry")])
            if found is None:
                await send_json(send, 404, {"error": "no such job"}, indent=2)
                return
            try:
                retried_record = await queue.retry(found)
            except LookupError as error:
                await send_json(send, 409, {"error": str(error)}, indent=2)
                return
            await send_json(send, 200, retried_record.public(), indent=2)
        else:
            await send_json(send, 404, {"error": "unknown jobs path"}, indent=2)


def _limit(text: str | None) -> int:
    if text is not None and text.isdigit():
        return max(1, min(MAX_LIST, int(text)))
    return 1000
