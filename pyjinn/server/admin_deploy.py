"""The admin listener's deploy endpoints, for ``pyjinn deploy`` and ``pyjinn rollback``.

Both change state, so both need ``Authorization: Bearer <admin token>``
(``pyjinn.server.credential``)::

    POST /functions/<name>/deploy                the body is the module (WebAssembly binary)
    POST /functions/<name>/rollback[?to=DIGEST]  the version before, or a kept one by digest

A deploy is checked before anything switches: the function's trust policy (``policy strict``
refuses an unsigned or tampered module), then compiling and linking it here, in the admin
process, with the function's grants and memory limit, as a worker would (which also warms the
compile cache the workers read). Only then does the supervisor publish a release in which this
one function's digest changed and wait until every worker has switched; the answer says so, or
why nothing changed. There is no unauthenticated way to replace a module.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from pyjinn.capabilities.base import FunctionHost
from pyjinn.config.model import Config, FunctionSpec
from pyjinn.engine.engine import Engine
from pyjinn.engine.modules import ModuleLoader, accept_module_bytes, cache_dir_for
from pyjinn.errors import ModuleError
from pyjinn.release import ModuleStore, store_dir_for
from pyjinn.runtime import Function
from pyjinn.server.asgi import Scope, header, send_json
from pyjinn.server.credential import is_authorized

PREFIX = "/functions"
MAX_MODULE_SIZE = 256 * 1024 * 1024
ANSWER_TIMEOUT = 330.0  # the supervisor's switch timeout, and a margin


class _Uploaded:
    """The module source of a deploy being checked: the uploaded bytes, already accepted."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def module_bytes(self, spec: FunctionSpec) -> bytes:
        return self.data


class DeployAdmin:
    """Deploy and rollback endpoints; ``request_fd`` carries requests to the supervisor, whose
    answers come back through :meth:`answered`."""

    def __init__(self, config: Callable[[], Config], token: str, request_fd: int) -> None:
        self._config = config
        self._token = token
        self._request_fd = request_fd
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._loader: ModuleLoader | None = None

    def answered(self, answer: dict[str, Any]) -> None:
        """The supervisor's answer to a request (from its feed)."""
        future = self._waiting.pop(str(answer.get("id")), None)
        if future is not None and not future.done():
            future.set_result(answer)

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        parts = scope["path"][len(PREFIX) + 1 :].split("/")
        if len(parts) != 2 or parts[1] not in ("deploy", "rollback") or not parts[0]:
            await send_json(
                send, 404, {"error": "unknown path; use /functions/NAME/deploy|rollback"}, indent=2
            )
            return
        name, action = parts
        if scope["method"] != "POST":
            await send_json(send, 405, {"error": f"use POST to {action}"}, indent=2)
            return
        if not is_authorized(header(scope, b"authorization"), self._token):
            await send_json(
                send,
                401,
                {"error": f"{action} needs the admin token: Authorization: Bearer TOKEN"},
                indent=2,
            )
            return
        config = self._config()
        spec = next((s for s in config.functions() if s.name == name), None)
        if spec is None:
            known = ", ".join(sorted(s.name for s in config.functions())) or "none"
            await send_json(
                send, 404, {"error": f"no function named {name!r} (configured: {known})"}, indent=2
            )
            return
        started = time.perf_counter()
        request: dict[str, Any] = {"function": name, "how": action}
        document: dict[str, Any] = {"function": name}
        if action == "deploy":
            body = await _read_body(receive, MAX_MODULE_SIZE)
            if body is None:
                await send_json(
                    send, 413, {"error": f"a module is at most {MAX_MODULE_SIZE} bytes"}, indent=2
                )
                return
            loop = asyncio.get_running_loop()
            try:
                request["digest"] = await loop.run_in_executor(
                    None, self._check, spec, config, body
                )
            except ModuleError as error:
                await send_json(
                    send, 422, {"error": f"refused; nothing changed: {error}"}, indent=2
                )
                return
            except OSError as error:
                await send_json(send, 500, {"error": f"cannot store the module: {error}"}, indent=2)
                return
            document["check_seconds"] = round(time.perf_counter() - started, 3)
        else:
            query = parse_qs(scope.get("query_string", b"").decode())
            request["digest"] = query["to"][-1] if "to" in query else None
        answer = await self._ask(request)
        document.update({k: v for k, v in answer.items() if k not in ("id", "status", "error")})
        document["seconds"] = round(time.perf_counter() - started, 3)
        if answer.get("error"):
            document["error"] = answer["error"]
        await send_json(send, int(answer.get("status", 500)), document, indent=2)

    def _check(self, spec: FunctionSpec, config: Config, data: bytes) -> str:
        """Accept ``data`` as ``spec``'s module the way a worker would load it; the digest."""
        accepted = accept_module_bytes(spec.module_path, data, spec.security)
        if self._loader is None:
            engine = Engine(max_instances=config.options.max_instances)
            self._loader = ModuleLoader(engine, cache_dir_for(config.options.data_dir))
        function = Function(
            spec, self._loader, FunctionHost(spec.name, spec.permissions), _Uploaded(accepted)
        )
        function.module  # noqa: B018 - compiling, linking and checking grants is the point
        return ModuleStore(store_dir_for(config)).put(accepted)

    async def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        request["id"] = identifier = f"{os.getpid()}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[identifier] = future
        try:
            os.write(self._request_fd, json.dumps({"deploy": request}).encode() + b"\n")
            return await asyncio.wait_for(future, ANSWER_TIMEOUT)
        except OSError as error:
            return {"status": 503, "error": f"cannot reach the supervisor: {error}"}
        except TimeoutError:
            return {"status": 504, "error": "the supervisor did not answer in time"}
        finally:
            self._waiting.pop(identifier, None)


async def _read_body(receive: Any, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
