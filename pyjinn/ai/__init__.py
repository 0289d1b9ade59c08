"""What the AI capability and the AI-aware triggers share: the answer cache, the token budgets,
and routing by meaning. The capability itself is ``pyjinn.capabilities.ai``; the backends are in
``pyjinn.backends.llm`` and ``pyjinn.backends.embeddings``; the MCP trigger is ``pyjinn.mcp``."""
