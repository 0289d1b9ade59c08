"""pyjinn's benchmark suite: ``python -m bench`` (or ``pyjinn bench``).

It measures pyjinn against the limit (a bare ASGI app, wasmtime's own numbers) and against what
people would use instead (a native program run once per request, the wasmtime CLI run once per
request), all in one run, and reports every comparison as a ratio of figures measured in that
run. One module per part:

- ``inprocess``: one invocation without HTTP, and a key-value read from inside a function;
- ``http``: throughput and latency under ``wrk`` at 50 connections, worker scaling;
- ``coldstart``: ``pyjinn up`` to the first answer, compile and cache-load times;
- ``density``: thousands of functions in one process, and a thousand requests in flight;
- ``observability``: the cost of metrics and tracing, once those exist.

``suite`` runs them and writes the results; ``report`` and ``charts`` turn them into the
markdown table and the PNGs. See bench/README.md.
"""
