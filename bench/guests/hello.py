"""hello in Python: reads the request, answers 200 text/plain "hello"."""

from pyjinn_guest import Request, Response


def handle(request: Request) -> Response:
    return Response.text("hello", content_type="text/plain")
