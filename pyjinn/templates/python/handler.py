"""{{name}}: a pyjinn function in Python.

pyjinn calls handle() once per request, in a fresh sandbox, with the request decoded
(request.method, .path, .query_param(name), .header(name), .body, .json()). Module-level code
runs once, when the function loads: import and set up here, not in handle(). pyjinn_guest
also reaches the host: log, kv_get/kv_set, db_query/db_exec, blob_get/blob_put.
Build it with `pyjinn build` (it writes functions/{{name}}.pyz).
"""

from pyjinn_guest import Request, Response


def handle(request: Request) -> Response:
    return Response.text("Hello from {{name}}")
