"""What operators see: metrics, traces, structured logs and per-invocation accounting.

    metrics        per-process accumulators, cheap enough for every request, and their
                   Prometheus form (a collector when embedded, files when pyjinn up runs workers)
    multiprocess   the shared metrics directory of pyjinn up: workers write, the admin reads
    tracing        OpenTelemetry spans: one per invocation, one per host call; off costs nothing
    guest_logs     guest stderr and ``log`` host calls as records, rate-limited per function
    invocations    what every finished invocation leaves: metrics, span, access record,
                   Server-Timing and, for a request with the debug secret, its log lines
    stats          per-function numbers computed from the metrics, for ``GET /stats``

Everything on the request path is plain arithmetic on objects bound once per function; nothing
there formats Prometheus text, touches a file or exports a span.
"""
