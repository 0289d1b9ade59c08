"""The ``mcp`` site directive: where a site serves its functions' MCP tools.

::

    :8080 {
        mcp /tools/mcp        # default /mcp when a function of the site has an ai_tool; or: mcp off
        handle /invoice { pyjinn invoice.wasm { ai_tool { name lookup_invoice } } }
    }

Tools are aggregated over every route of the site; their names must be unique within it.
"""

from __future__ import annotations

from pyjinn.config.diagnostics import Diagnostics, describe
from pyjinn.config.model import FunctionSpec, Site
from pyjinn.config.parser import Directive

MCP_DIRECTIVE = "mcp"
DEFAULT_MCP_PATH = "/mcp"
MCP_USAGE = "mcp expects one path or off, like: mcp /mcp"


def check_tools(site: Site, report: Diagnostics) -> dict[str, FunctionSpec]:
    """The site's tools by name; a name used twice is reported."""
    tools: dict[str, FunctionSpec] = {}
    for spec in site.functions():
        if spec.tool is None:
            continue
        first = tools.setdefault(spec.tool.name, spec)
        if first is not spec:
            where = f" ({first.location})" if first.location else ""
            if spec.location is not None:
                report.error_at(
                    spec.location,
                    f"tool name '{spec.tool.name}' is already used by function '{first.name}'"
                    f"{where} in this site; give one of them another ai_tool name",
                )
    return tools


def build_mcp_path(lines: list[Directive], *, has_tools: bool, report: Diagnostics) -> str | None:
    """The site's MCP path: the ``mcp`` line's, else the default when the site has tools."""
    if not lines:
        return DEFAULT_MCP_PATH if has_tools else None
    for extra in lines[1:]:
        report.error(extra, f"'mcp' is set twice ({describe(lines[0])} and {describe(extra)})")
    line = lines[0]
    text = report.single_arg(line, MCP_USAGE)
    if text is None:
        return None
    if text == "off":
        return None
    if not text.startswith("/") or "*" in text or (text.endswith("/") and text != "/"):
        report.error(line, f"invalid mcp path '{text}': use an exact path like /mcp")
        return None
    if not has_tools:
        report.error(line, "mcp is set, but no function of this site has an ai_tool block")
        return None
    return text
