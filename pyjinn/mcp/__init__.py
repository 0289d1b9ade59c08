"""The MCP trigger: a site's functions as Model Context Protocol tools.

``tools`` holds what is independent of the transport (who sees which tool, a call as one
invocation); ``server`` binds it to the official ``mcp`` SDK's server; ``http`` serves it as
Streamable HTTP on the site (``mcp PATH``, default ``/mcp``), ``stdio`` for ``pyjinn mcp``.
"""
