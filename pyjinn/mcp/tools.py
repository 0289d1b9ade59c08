"""A site's functions as MCP tools: who sees which, and a tool call as one invocation.

Every function of a site with an ``ai_tool`` block is a tool. A caller sees (and may call) the
tools whose functions would accept its request over HTTP: with API keys, those whose keys
include the one it presented, acting for that key's tenant; without, every tool, for the
function's tenant. A call:

1. takes the tenant's ``rate_limit`` token, then validates the arguments against the tool's
   input schema (a JSON Schema library) before any sandbox starts: an empty bucket
   (``rate_limited``) and invalid arguments (``invalid_arguments``) are refused invocations,
   answered as tool errors so the model can wait or correct itself;
2. runs the function through the one invocation pipeline (``pyjinn.invocation``: slots, limits,
   metrics, span, access record), as ``trigger="mcp"`` and method ``MCP``: a pyjinn function
   gets the request envelope with the arguments as its JSON body; a Gojinn tool (``contract
   gojinn``) reads the bare arguments on stdin and its stdout is the answer;
3. answers with the body as text content, a JSON object body also as ``structuredContent``, and
   ``isError`` when the function failed (or answered with a status of 400 or more).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyjinn.config.model import FunctionSpec, Site
from pyjinn.errors import RequestRejected
from pyjinn.invocation import Envelope, Invocation, Outcome, RawInput

if TYPE_CHECKING:
    from pyjinn.runtime import Function, Runtime

Headers = Sequence[tuple[bytes, bytes]]
MAX_ARGUMENTS = 1024 * 1024
UNAUTHORIZED = "missing or invalid API key"


@dataclass(frozen=True)
class Tool:
    """One tool: its function and its compiled input-schema validator."""

    spec: FunctionSpec
    schema: dict[str, Any]
    validator: Any  # a jsonschema validator

    @property
    def name(self) -> str:
        assert self.spec.tool is not None
        return self.spec.tool.name


@dataclass(frozen=True)
class Caller:
    """Who is calling: the request's headers (its credentials) and address."""

    headers: Headers = ()
    remote_addr: str = ""
    traceparent: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """What a tool call answers (turned into MCP's CallToolResult by the transport)."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False


class ToolTable:
    """The tools of one site under one runtime (built once per runtime and site)."""

    def __init__(self, runtime: Runtime, site: Site) -> None:
        from jsonschema.validators import validator_for

        self.runtime = runtime
        self.path = site.mcp_path or ""
        self.tools: dict[str, Tool] = {}
        for spec in site.functions():
            if spec.tool is not None:
                schema = json.loads(spec.tool.schema)
                validator = validator_for(schema)(schema)
                self.tools[spec.tool.name] = Tool(spec, schema, validator)

    def function(self, tool: Tool) -> Function:
        return self.runtime.functions[tool.spec.name]

    @property
    def requires_key(self) -> bool:
        """Whether any tool's function takes API keys (then the endpoint requires one)."""
        return any(self.function(tool).tenants.requires_key for tool in self.tools.values())

    def admits(self, caller: Caller) -> bool:
        """Whether the caller may use the endpoint at all (see ``requires_key``)."""
        if not self.requires_key:
            return True
        return any(self._tenant(tool, caller) is not None for tool in self.tools.values())

    def visible(self, caller: Caller) -> list[Tool]:
        """The tools ``caller`` may see and call, in the site's order."""
        return [tool for tool in self.tools.values() if self._tenant(tool, caller) is not None]

    def _tenant(self, tool: Tool, caller: Caller) -> str | None:
        tenant, _ = self.function(tool).tenants.resolve(caller.headers)
        return tenant

    def find(self, name: str, caller: Caller) -> Tool | None:
        """The tool ``name`` if ``caller`` may call it (an unseen tool does not exist for it)."""
        tool = self.tools.get(name)
        if tool is None or self._tenant(tool, caller) is None:
            return None
        return tool

    async def call(self, tool: Tool, arguments: dict[str, Any], caller: Caller) -> ToolResult:
        """Run ``tool`` once for ``caller`` (see the module docstring)."""
        function = self.function(tool)
        invocation = Invocation(
            function,
            trigger="mcp",
            method="MCP",
            target=f"{self.path}#{tool.name}",
            traceparent=caller.traceparent,
        )
        tenant, headers = function.tenants.resolve(caller.headers)
        if function.debug_secret is not None:
            invocation.debug, headers = function.debug_secret.check(headers)
        if tenant is None:  # find() let it through: the table changed under a reload
            rejected = RequestRejected(401, "unauthorized", UNAUTHORIZED)
            return _failure(invocation.refuse(rejected))
        try:
            invocation.admit(tenant)
        except RequestRejected as refused:  # rate_limit
            return _failure(invocation.refuse(refused, tenant))
        body = json.dumps(arguments, ensure_ascii=False, separators=(",", ":")).encode()
        problem = self._invalid(tool, arguments, len(body), function.spec.limits.max_body)
        if problem is not None:
            rejected = RequestRejected(
                400, "invalid_arguments", problem, f"tool {tool.name}: {problem}"
            )
            return _failure(invocation.refuse(rejected, tenant))
        assert tool.spec.tool is not None
        if tool.spec.tool.contract == "gojinn":
            envelope: Envelope | RawInput = RawInput(body)
        else:
            envelope = Envelope(
                method="MCP",
                uri=self.path,
                path=self.path,
                headers=[*headers, (b"content-type", b"application/json")],
                body=body,
                remote_addr=caller.remote_addr,
            )
        outcome = await invocation.run(self.runtime, envelope, tenant)
        if outcome.error is not None:
            return _failure(outcome)
        assert outcome.response is not None
        text = outcome.response.body.decode("utf-8", "replace")
        structured = None
        if outcome.response.body.lstrip()[:1] == b"{":
            try:
                parsed = json.loads(outcome.response.body)
            except ValueError:
                parsed = None
            structured = parsed if isinstance(parsed, dict) else None
        return ToolResult(text, structured, is_error=outcome.response.status >= 400)

    @staticmethod
    def _invalid(tool: Tool, arguments: dict[str, Any], size: int, max_body: int) -> str | None:
        limit = min(max_body, MAX_ARGUMENTS)
        if size > limit:
            return f"the arguments are {size} bytes, more than the tool's limit of {limit}"
        error = next(iter(tool.validator.iter_errors(arguments)), None)
        if error is None:
            return None
        where = "/".join(str(part) for part in error.absolute_path) or "(the arguments)"
        return f"invalid arguments for tool {tool.name} at {where}: {error.message}"[:500]


def _failure(outcome: Outcome) -> ToolResult:
    """A failed invocation as a tool error: the client's message, never internals."""
    assert outcome.error is not None
    return ToolResult(
        f"{outcome.error.client_message} (trace_id {outcome.trace_id})", is_error=True
    )
