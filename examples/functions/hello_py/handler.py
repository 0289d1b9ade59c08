"""A pyjinn function in Python: greets ?name= and says which Python runs it.

GET /python?name=Ada -> {"greeting": "Hello, Ada!", "python": "3.15.0", "request": 1}

Everything at module level runs once, when the function loads; each request then starts from
that state in a fresh sandbox, so "request" is always 1: nothing survives a request.
"""

import platform

from pyjinn_guest import Request, Response, log

PYTHON = platform.python_version()
served = 0


def handle(request: Request) -> Response:
    global served
    served += 1
    name = request.query_param("name", "world")
    if len(name) > 200:
        return Response.json({"error": "name is longer than 200 characters"}, status=400)
    log(f"greeting {name}")
    return Response.json({"greeting": f"Hello, {name}!", "python": PYTHON, "request": served})
