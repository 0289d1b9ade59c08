"""Answers after routing: header rules around the answer's own headers, respond placeholders."""

from __future__ import annotations

import pytest

from tests.helpers import wat_writing

pytestmark = pytest.mark.anyio

FUNCTION_ANSWER = (
    '{"status":200,"headers":{"Content-Type":["text/html"],"X-Fn":["from the function"]},'
    '"body":"<p>fn</p>"}'
)


@pytest.fixture
def client(make_client, project):
    project("fn.wat", wat_writing(FUNCTION_ANSWER))
    return make_client(
        """
        :8080 {
            header X-Site site
            header >X-Fn "deferred wins"
            header -X-Remove-*
            header ?Cache-Control no-store
            handle /fn {
                header Content-Type application/json
                header X-Remove-Me gone
                pyjinn fn.wat
            }
            handle /api/* {
                header Access-Control-Allow-Origin "{http.request.header.Origin}"
                header +Vary Origin
                header +Vary Accept
                respond /api/json `{"path": "{path}", "name": "{query.name}"}`
                respond /api/text "{method} {http.request.uri} for {host}" 201
                respond /api/empty ""
            }
            handle /echo {
                header X-Echo "{query.v}"
                respond "echo"
            }
        }
        """
    )


async def test_a_header_before_a_function_is_overridden_by_the_functions_own(client) -> None:
    response = await client.get("/fn")
    # Gojinn's quickstart sets Content-Type with `header`: the function's own one wins, as in
    # Caddy, and a deferred header (>) wins over the function.
    assert response.headers["content-type"] == "text/html"
    assert response.headers["x-fn"] == "deferred wins"
    assert response.headers["x-site"] == "site"
    assert "x-remove-me" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert response.text == "<p>fn</p>"


async def test_respond_bodies_fill_in_request_placeholders(client) -> None:
    response = await client.get("/api/json?name=Ada", headers={"Origin": "https://a.example"})
    assert response.json() == {"path": "/api/json", "name": "Ada"}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "https://a.example"
    assert response.headers.get_list("vary") == ["Origin", "Accept"]
    text = await client.post("/api/text?x=1")
    assert (text.status_code, text.text) == (201, "POST /api/text?x=1 for testserver")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    empty = await client.get("/api/empty")
    assert (empty.text, "content-type" in empty.headers) == ("", False)


async def test_a_placeholder_cannot_add_a_header_line(client) -> None:
    response = await client.get("/echo", params={"v": "a\r\nSet-Cookie: stolen=1"})
    assert response.headers["x-echo"] == "a  Set-Cookie: stolen=1"
    assert "set-cookie" not in response.headers


async def test_pyjinns_own_404_gets_the_header_rules_too(client) -> None:
    response = await client.get("/api/unknown")
    assert response.status_code == 404
    assert response.json() == {"error": "no route for this path"}
    assert response.headers["x-site"] == "site"
    assert response.headers["cache-control"] == "no-store"
