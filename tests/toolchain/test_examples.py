"""The example project: it builds, and each function answers as examples/README.md says."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from pyjinn.config import loads
from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from pyjinn.services import Services
from pyjinn.toolchain import BuildResult
from tests.server.test_actors import Live, closed
from tests.servers import ScriptedHttp

from .conftest import EXAMPLES, Invoke, make_request

FUNCTIONS = [
    "ask", "chat", "desk", "echo", "fib", "gojinn_style", "greeting", "guestbook", "heartbeat",
    "hello", "hello_py", "hello_ts", "invoice", "links", "notes", "orders", "readings", "receipt",
    "relay",
]  # fmt: skip

Built = dict[str, BuildResult]


def module(built: Built, name: str) -> Path:
    result = built[name]
    assert result.ok, result.message
    return result.output


def test_every_module_the_caddyfiles_route_to_is_an_example_function() -> None:
    caddyfile = "\n".join(
        (EXAMPLES / name).read_text() for name in ("Caddyfile", "python.Caddyfile")
    )

    routed = set(re.findall(r"(?:pyjinn|gojinn) functions/(\w+)\.(?:wasm|pyz)", caddyfile))

    assert routed == set(FUNCTIONS)
    assert (
        sorted(path.name for path in (EXAMPLES / "functions").iterdir() if path.is_dir())
        == FUNCTIONS
    )


@pytest.mark.slow
def test_every_example_builds(built_examples: Built) -> None:
    assert sorted(built_examples) == FUNCTIONS
    failed = {name: result.message for name, result in built_examples.items() if not result.ok}
    missing = [message for message in failed.values() if "toolchain" in message]
    if failed and len(missing) == len(failed):
        pytest.skip(f"a guest toolchain is not installed: {missing[0]}")
    assert failed == {}


@pytest.mark.slow
class TestHello:
    def test_greets_the_world_by_default(self, built_examples: Built, invoke: Invoke) -> None:
        run = invoke(module(built_examples, "hello"), make_request("/hello"))

        assert (run.exit_code, run.status, run.body) == (0, 200, "Hello, world!")
        assert run.header("Content-Type") == ["text/plain; charset=utf-8"]

    def test_greets_the_name_in_the_query(self, built_examples: Built, invoke: Invoke) -> None:
        run = invoke(module(built_examples, "hello"), make_request("/hello?name=Ada&name=Bob"))

        assert run.body == "Hello, Ada!"

    @pytest.mark.parametrize("name", ['a"b', "back\\slash", "line\nbreak\ttab", "\x01", "Zoë 😀"])
    def test_escapes_what_it_echoes(self, built_examples: Built, invoke: Invoke, name: str) -> None:
        request = json.loads(make_request("/hello"))
        request["query"] = {"name": [name]}

        run = invoke(module(built_examples, "hello"), json.dumps(request).encode())

        assert run.body == f"Hello, {name}!"

    def test_a_quote_in_the_name_is_escaped_in_the_raw_output(
        self, built_examples: Built, invoke: Invoke
    ) -> None:
        run = invoke(module(built_examples, "hello"), make_request('/hello?name=a"b'))

        assert b'"body":"Hello, a\\"b!"' in run.stdout

    def test_refuses_a_name_longer_than_200_bytes(
        self, built_examples: Built, invoke: Invoke
    ) -> None:
        hello = module(built_examples, "hello")

        assert invoke(hello, make_request("/hello?name=" + "x" * 200)).status == 200
        run = invoke(hello, make_request("/hello?name=" + "x" * 201))
        assert run.status == 400
        assert run.json_body() == {"error": "name is too long (at most 200 bytes)"}


@pytest.mark.slow
class TestEcho:
    def test_echoes_the_request_as_json(self, built_examples: Built, invoke: Invoke) -> None:
        request = make_request(
            "/echo/a/b?x=1&x=2&y=",
            method="POST",
            headers={"Content-Type": ["text/plain"], "X-Many": ["1", "2"]},
            body="héllo",
        )

        run = invoke(module(built_examples, "echo"), request)

        assert run.status == 200
        assert run.header("Content-Type") == ["application/json"]
        assert run.json_body() == {
            "method": "POST",
            "path": "/echo/a/b",
            "query": {"x": ["1", "2"], "y": [""]},
            "headers": {"Content-Type": ["text/plain"], "X-Many": ["1", "2"]},
            "body": "héllo",
            "body_encoding": None,
        }

    def test_passes_a_binary_body_through_as_base64(
        self, built_examples: Built, invoke: Invoke
    ) -> None:
        binary = bytes(range(256))

        run = invoke(
            module(built_examples, "echo"), make_request("/echo", method="PUT", body=binary)
        )

        echoed = run.json_body()
        assert echoed["body_encoding"] == "base64"
        assert base64.b64decode(echoed["body"]) == binary

    def test_answers_400_to_a_request_that_is_not_json(
        self, built_examples: Built, invoke: Invoke
    ) -> None:
        run = invoke(module(built_examples, "echo"), b"not json")

        assert run.status == 400
        assert run.json_body() == {"error": "the request is not a JSON object"}


@pytest.mark.slow
class TestFib:
    @pytest.mark.parametrize(
        ("uri", "n", "value"),
        [
            ("/fib?n=10", 10, 55),
            ("/fib?n=0", 0, 0),
            ("/fib?n=1", 1, 1),
            ("/fib", 25, 75025),
            ("/fib?n=30", 30, 832040),
        ],
    )
    def test_computes_fib_of_n(
        self, built_examples: Built, invoke: Invoke, uri: str, n: int, value: int
    ) -> None:
        run = invoke(module(built_examples, "fib"), make_request(uri))

        assert run.status == 200
        assert run.header("Content-Type") == ["application/json"]
        assert run.json_body() == {"n": n, "fib": value}

    @pytest.mark.parametrize("value", ["abc", "", "-1", "3.5", "1" * 40])
    def test_answers_400_unless_n_is_a_whole_number(
        self, built_examples: Built, invoke: Invoke, value: str
    ) -> None:
        run = invoke(module(built_examples, "fib"), make_request(f"/fib?n={value}"))

        assert run.status == 400
        assert run.json_body() == {"error": "n must be a whole number, like ?n=30"}


@pytest.mark.slow
class TestGreeting:
    def test_answers_with_the_greeting_env_var(self, built_examples: Built, invoke: Invoke) -> None:
        run = invoke(
            module(built_examples, "greeting"),
            make_request("/greeting"),
            env={"GREETING": 'Hi "there" ✓'},
        )

        assert (run.status, run.body) == (200, 'Hi "there" ✓')

    def test_answers_500_when_greeting_is_not_set(
        self, built_examples: Built, invoke: Invoke
    ) -> None:
        run = invoke(
            module(built_examples, "greeting"), make_request("/greeting"), env={"OTHER": "x"}
        )

        assert run.status == 500
        assert run.header("Content-Type") == ["application/json"]
        assert run.json_body() == {"error": "GREETING is not set"}
        assert run.stderr == 'GREETING is not set; configure it with: env GREETING "..."\n'


@pytest.mark.slow
class TestGojinnStyle:
    def test_answers_exactly_as_the_gojinn_go_sdk_would(
        self, built_examples: Built, invoke: Invoke
    ) -> None:
        run = invoke(
            module(built_examples, "gojinn_style"),
            make_request("/gojinn?q=<a&b>", method="POST", body="hello"),
        )

        body = (
            '{"body_length":5,"message":"Hello from a Gojinn-style function","method":"POST",'
            '"uri":"/gojinn?q=\\u003ca\\u0026b\\u003e"}'
        )
        expected = {
            "status": 200,
            "headers": {"Content-Type": ["application/json"], "X-Powered-By": ["pyjinn"]},
            "body": body,
        }
        # json.NewEncoder(os.Stdout).Encode: compact, HTML-safe, with a trailing newline.
        go_encoded = json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
        go_encoded = go_encoded.replace("<", "\\u003c").replace(">", "\\u003e")
        go_encoded = go_encoded.replace("&", "\\u0026")
        assert run.stdout == (go_encoded + "\n").encode()
        assert run.stderr == "USER_LOG: Received method: POST\n"

    def test_reads_gojinns_own_envelope_which_has_only_four_fields(
        self, built_examples: Built, invoke: Invoke
    ) -> None:
        envelope = {"method": "GET", "uri": "/gojinn", "headers": {}, "body": ""}

        run = invoke(module(built_examples, "gojinn_style"), json.dumps(envelope).encode())

        assert run.status == 200
        assert json.loads(run.body)["uri"] == "/gojinn"

    def test_answers_400_like_sdk_send_error_when_parsing_fails(
        self, built_examples: Built, invoke: Invoke
    ) -> None:
        run = invoke(module(built_examples, "gojinn_style"), b"{}")

        assert run.status == 400
        assert run.body == '{"error": "invalid request"}'


@pytest.mark.slow
def test_receipt_answers_the_receipt_of_the_order_in_its_body(
    built_examples: Built, invoke: Invoke
) -> None:
    request = json.loads(make_request("/receipt"))
    request["body"] = '{"item":"book"}'
    run = invoke(module(built_examples, "receipt"), json.dumps(request).encode())
    assert (run.status, run.body) == (200, 'Receipt for order: {"item":"book"}')


@pytest.fixture
async def served_examples(
    built_examples: Built, kv_services: Services
) -> AsyncIterator[httpx.AsyncClient]:
    """The example project served as its Caddyfile says, with the session's nats-server for
    key-value and its own data_dir (SQLite files, compile cache) in the built copy."""
    root = module(built_examples, "hello").parent.parent
    config = loads((root / "Caddyfile").read_text(), base_dir=root, environ={})
    runtime = Runtime(config, services=kv_services)
    transport = httpx.ASGITransport(app=PyjinnApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://examples") as client:
        yield client
    runtime.close()


@pytest.mark.slow
@pytest.mark.anyio
class TestGuestbook:
    async def test_adds_an_entry_and_lists_it_first(
        self, served_examples: httpx.AsyncClient
    ) -> None:
        message = f"hello from the test {uuid.uuid4()}"
        added = await served_examples.post("/guestbook", params={"name": "Ada"}, content=message)
        assert added.status_code == 201, added.text
        entry_id = added.json()["id"]

        listed = await served_examples.get("/guestbook")

        assert listed.status_code == 200
        assert listed.json()[0] == {"id": entry_id, "name": "Ada", "message": message}

    async def test_stores_text_as_given_never_as_sql(
        self, served_examples: httpx.AsyncClient
    ) -> None:
        name = "'); DROP TABLE entries; --"
        added = await served_examples.post("/guestbook", params={"name": name}, content="hi")
        assert added.status_code == 201
        assert (await served_examples.get("/guestbook")).json()[0]["name"] == name

    @pytest.mark.parametrize("body", ["", "   ", "x" * 1001])
    async def test_refuses_an_empty_or_long_message(
        self, served_examples: httpx.AsyncClient, body: str
    ) -> None:
        response = await served_examples.post("/guestbook", content=body)
        assert (response.status_code, response.json()) == (
            400,
            {"error": "the body must be a message of 1 to 1000 characters"},
        )

    async def test_refuses_other_methods(self, served_examples: httpx.AsyncClient) -> None:
        response = await served_examples.delete("/guestbook")
        assert (response.status_code, response.json()) == (405, {"error": "use GET or POST"})


@pytest.mark.slow
@pytest.mark.anyio
class TestLinks:
    async def test_shortens_a_url_and_redirects_to_it(
        self, served_examples: httpx.AsyncClient
    ) -> None:
        url = f"https://example.com/docs?page={uuid.uuid4()}"
        code = hashlib.sha256(url.encode()).hexdigest()[:10]

        created = await served_examples.post("/links", content=url)

        assert (created.status_code, created.json()) == (201, {"code": code, "url": url})
        followed = await served_examples.get(f"/links/{code}")
        assert followed.status_code == 302
        assert followed.headers["location"] == url
        assert code in (await served_examples.get("/links")).json()

    async def test_an_unknown_code_is_404_with_the_hosts_message(
        self, served_examples: httpx.AsyncClient
    ) -> None:
        response = await served_examples.get("/links/0000000000")
        assert (response.status_code, response.json()) == (
            404,
            {"error": "no key 'links/0000000000'"},
        )

    @pytest.mark.parametrize("body", ["", "not a url", "ftp://example.com/file"])
    async def test_refuses_what_is_not_an_http_url(
        self, served_examples: httpx.AsyncClient, body: str
    ) -> None:
        response = await served_examples.post("/links", content=body)
        assert (response.status_code, response.json()) == (
            400,
            {"error": "the body must be an http or https URL"},
        )

    async def test_a_code_that_is_not_a_valid_key_is_400(
        self, served_examples: httpx.AsyncClient
    ) -> None:
        response = await served_examples.get("/links/a%20b")
        assert response.status_code == 400
        assert response.json()["error"].startswith("invalid key 'links/a b'")


@pytest.fixture
async def relay_to(built_examples: Built) -> AsyncIterator[tuple[httpx.AsyncClient, ScriptedHttp]]:
    """The example Caddyfile served with the relay's upstream on a scripted loopback server (the
    Caddyfile's PYJINN_UPSTREAM and PYJINN_UPSTREAM_HOST)."""
    upstream = ScriptedHttp()
    root = module(built_examples, "relay").parent.parent
    environ = {
        "PYJINN_UPSTREAM": upstream.url("/echo"),
        "PYJINN_UPSTREAM_HOST": f"127.0.0.1:{upstream.port}",
    }
    config = loads((root / "Caddyfile").read_text(), base_dir=root, environ=environ)
    runtime = Runtime(config, services=Services())
    transport = httpx.ASGITransport(app=PyjinnApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://examples") as client:
        yield client, upstream
    runtime.close()
    upstream.stop()


@pytest.mark.slow
@pytest.mark.anyio
class TestRelay:
    async def test_answers_with_what_the_allowed_api_said(self, relay_to) -> None:
        client, upstream = relay_to
        response = await client.get("/relay", params={"name": "Ada & Bob"})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["upstream_status"] == 200
        echoed = json.loads(answer["upstream"])
        assert (echoed["method"], echoed["path"]) == ("GET", "/echo?name=Ada%20%26%20Bob")
        assert upstream.headers[-1]["accept"] == "text/plain"

    @pytest.mark.parametrize(
        "url", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:2019/status"]
    )
    async def test_a_host_allow_host_does_not_list_is_refused_unconnected(
        self, relay_to, url: str
    ) -> None:
        client, upstream = relay_to
        response = await client.get("/relay", params={"url": url})
        assert response.status_code == 403
        assert response.json()["error"] == "DENIED"
        assert "is not in allow_host" in response.json()["message"]
        assert upstream.connections == 0


class TestInvoice:
    def test_answers_an_invoice_as_json(self, built_examples: Built, invoke: Invoke) -> None:
        stdin = make_request("/invoice", method="MCP", body='{"number":"INV-1002"}')
        run = invoke(module(built_examples, "invoice"), stdin)
        response = json.loads(run.stdout)
        assert response["status"] == 200
        assert json.loads(response["body"]) == {
            "number": "INV-1002",
            "status": "paid",
            "amount_cents": 37074,
            "currency": "EUR",
        }

    def test_answers_400_without_a_number(self, built_examples: Built, invoke: Invoke) -> None:
        run = invoke(module(built_examples, "invoice"), make_request("/invoice", body="{}"))
        assert json.loads(run.stdout)["status"] == 400


@pytest.mark.slow
@pytest.mark.anyio
class TestApiHello:
    ORIGIN = "https://app.example.com"

    async def test_a_page_of_the_allowed_origin_may_read_it(
        self, served_examples: httpx.AsyncClient
    ) -> None:
        answer = await served_examples.get("/api/hello", headers={"origin": self.ORIGIN})
        assert answer.status_code == 200
        assert answer.text == "Hello, world!"
        assert answer.headers["access-control-allow-origin"] == self.ORIGIN
        assert answer.headers["vary"] == "Origin"
        assert answer.headers["ratelimit-policy"] == '"rate_limit";q=5;w=1;pyjinn-burst=10'
        assert answer.headers["ratelimit"] == '"rate_limit";r=9;t=1'
        other = await served_examples.get("/api/hello", headers={"origin": "https://x.example"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers

    async def test_its_preflight_is_answered_without_running_it(
        self, served_examples: httpx.AsyncClient
    ) -> None:
        headers = {"origin": self.ORIGIN, "access-control-request-method": "POST"}
        answer = await served_examples.options("/api/hello", headers=headers)
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-methods"] == "POST"

    async def test_beyond_ten_at_once_it_answers_429_with_retry_after(
        self, served_examples: httpx.AsyncClient
    ) -> None:
        started, admitted = time.monotonic(), 0
        while (answer := await served_examples.get("/api/hello")).status_code == 200:
            admitted += 1
            assert admitted <= 10 + 5 * (time.monotonic() - started) + 1
        assert admitted >= 10
        assert answer.status_code == 429
        assert answer.headers["retry-after"] == "1"


@pytest.mark.slow
def test_the_example_caddyfile_loads_with_its_tools_and_route_by_meaning(
    built_examples: Built,
) -> None:
    from pyjinn.config import load
    from pyjinn.config.model import MeaningRoute

    root = module(built_examples, "hello").parent.parent
    config = load(root / "Caddyfile", environ={})
    (site,) = config.sites
    assert site.mcp_path == "/mcp"
    assert [spec.tool.name for spec in site.functions() if spec.tool] == ["lookup_invoice"]
    assert any(isinstance(route.handler, MeaningRoute) for route in site.routes)


@pytest.mark.anyio
class TestHelloPython:
    async def test_greets_as_json_and_each_request_starts_fresh(
        self, built_examples: Built, make_client, project, python_loader
    ) -> None:
        project("hello_py.pyz", module(built_examples, "hello_py"))
        client = make_client(":8080 {\n pyjinn hello_py.pyz\n}\n", loader=python_loader)

        for _ in range(2):
            response = await client.get("/python", params={"name": 'Ada "the first"'})
            assert response.status_code == 200
            assert response.json() == {
                "greeting": 'Hello, Ada "the first"!',
                "python": "3.15.0",
                "request": 1,
            }

    async def test_refuses_a_name_longer_than_200_characters(
        self, built_examples: Built, make_client, project, python_loader
    ) -> None:
        project("hello_py.pyz", module(built_examples, "hello_py"))
        client = make_client(":8080 {\n pyjinn hello_py.pyz\n}\n", loader=python_loader)

        response = await client.get("/python", params={"name": "x" * 201})
        assert (response.status_code, response.json()) == (
            400,
            {"error": "name is longer than 200 characters"},
        )


@pytest.mark.slow
@pytest.mark.anyio
class TestHelloAssemblyScript:
    async def test_greets_in_english_or_french(
        self, built_examples: Built, make_client, project
    ) -> None:
        project("hello_ts.wasm", module(built_examples, "hello_ts"))
        client = make_client(":8080 {\n pyjinn hello_ts.wasm\n}\n")

        response = await client.get("/ts", params={"name": "Zoë 😀"})
        assert (response.status_code, response.text) == (200, "Hello, Zoë 😀!")
        assert response.headers["content-language"] == "en"
        response = await client.get("/ts", headers={"Accept-Language": "fr-FR"})
        assert (response.text, response.headers["content-language"]) == ("Bonjour, world !", "fr")


@pytest.mark.anyio
class TestTriggers:
    """The cron and MQTT examples, served as examples/Caddyfile routes them (with a broker of
    the test's own instead of the embedded one), on the session's nats-server."""

    async def test_heartbeat_remembers_the_last_tick_of_its_schedule(
        self, built_examples: Built, make_runtime, nats_connection
    ) -> None:
        from tests.triggers.conftest import serving

        app = self._heartbeat(built_examples, make_runtime, nats_connection, "* * * * * *")
        async with serving(app), _client(app) as client:
            answer = await _eventually(client, "/heartbeat")
        app.runtime.services.close()
        tick = answer.json()
        assert tick["event_type"] == "cron" and tick["schedule"] == "* * * * * *"
        assert tick["tick"].endswith(".000Z") and tick["missed"] == 0

    async def test_heartbeat_takes_no_tick_from_an_http_request_that_claims_to_be_one(
        self, built_examples: Built, make_runtime, nats_connection
    ) -> None:
        from tests.triggers.conftest import serving

        yearly = "0 0 0 1 1 *"  # no tick while the test runs
        app = self._heartbeat(built_examples, make_runtime, nats_connection, yearly)
        async with serving(app), _client(app) as client:
            spoofed = await client.post(
                "/heartbeat", headers={"X-Pyjinn-Trigger": "cron"}, content=b"{}"
            )
            assert spoofed.status_code == 404
            assert (await client.get("/heartbeat")).json() == {"error": "no tick yet"}
        app.runtime.services.close()

    @staticmethod
    def _heartbeat(built: Built, make_runtime, nats_connection, schedule: str) -> PyjinnApp:
        from tests.triggers.conftest import unique

        caddyfile = f"""
        :8080 {{
            handle /heartbeat {{
                pyjinn {module(built, "heartbeat")} {{
                    tenant {unique("t")}
                    cron "{schedule}"
                    permissions {{
                        kv_read heartbeat
                        kv_write heartbeat
                    }}
                }}
            }}
        }}
        """
        return PyjinnApp(make_runtime(caddyfile, services=Services(nats_connection)))

    async def test_readings_keeps_the_latest_mqtt_message_of_each_sensor(
        self, built_examples: Built, make_runtime, nats_connection, tmp_path: Path
    ) -> None:
        from tests.servers import Mosquitto, mosquitto_binary
        from tests.triggers.conftest import serving, unique
        from tests.triggers.test_mqtt import publish

        if mosquitto_binary() is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        broker = Mosquitto(tmp_path / "mosquitto")
        client_id = unique("readings")
        caddyfile = f"""
        :8080 {{
            handle /readings {{
                pyjinn {module(built_examples, "readings")} {{
                    tenant {unique("t")}
                    mqtt_broker {broker.url}
                    mqtt_client_id {client_id}
                    mqtt_subscribe "sensors/+/temperature"
                    permissions {{
                        kv_read readings
                        kv_write readings
                    }}
                }}
            }}
        }}
        """
        services = Services(nats_connection)
        try:
            app = PyjinnApp(make_runtime(caddyfile, services=services))
            async with serving(app), _client(app) as client:
                await _until(lambda: f"Sending SUBACK to {client_id}" in broker.log.read_text())
                publish(broker, "sensors/hall/temperature", b"21.5")
                answer = await _eventually(client, "/readings?sensor=hall")
                assert answer.text == "21.5"
                assert (await client.get("/readings?sensor=cellar")).status_code == 404
                assert (await client.get("/readings")).status_code == 400
        finally:
            services.close()
            broker.stop()


def _client(app: PyjinnApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://example")


async def _eventually(client: httpx.AsyncClient, path: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while (answer := await client.get(path)).status_code != 200:
        assert time.monotonic() < deadline, f"{path} answered {answer.status_code}: {answer.text}"
        await asyncio.sleep(0.1)
    return answer


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
def served_chat(built_examples: Built) -> Iterator[Live]:
    """The /chat route of examples/Caddyfile, as written there, served by uvicorn (its WebSocket
    protocol, as ``pyjinn up`` serves it) on a loopback port."""
    root = module(built_examples, "chat").parent.parent
    caddyfile = (root / "Caddyfile").read_text()
    block = re.search(r"^\thandle /chat \{\n.*?^\t\}\n", caddyfile, re.MULTILINE | re.DOTALL)
    assert block is not None, "examples/Caddyfile has no handle /chat block"
    config = loads("{\n\tadmin off\n}\n:8080 {\n" + block.group(0) + "}\n", base_dir=root)
    runtime = Runtime(config)
    assert runtime.load_all() == []
    live = Live(runtime)
    yield live
    live.stop()
    runtime.close()


@pytest.mark.slow
class TestChat:
    """The WebSocket actor, talked to with a real WebSocket client (the ``websockets`` library)
    as examples/README.md shows."""

    def test_greets_answers_each_message_and_closes_on_quit(self, served_chat: Live) -> None:
        with served_chat.ws("/chat?name=Ada") as chat:
            assert chat.recv(timeout=10) == "Hello, Ada! Say something, or /quit to leave."
            chat.send("hi")
            assert chat.recv(timeout=10) == "you said: hi"
            chat.send("héllo, wörld")
            assert chat.recv(timeout=10) == "you said: héllo, wörld"
            chat.send(b"\x00\x01\x02")
            assert chat.recv(timeout=10) == "you sent 3 bytes"
            chat.send("/quit")
            assert chat.recv(timeout=10) == "Goodbye after 3 messages."
            assert closed(chat) == (1000, "bye")

    def test_each_connection_has_a_sandbox_of_its_own(self, served_chat: Live) -> None:
        with served_chat.ws("/chat") as first, served_chat.ws("/chat?name=Bob") as second:
            assert first.recv(timeout=10).startswith("Hello, stranger!")
            assert second.recv(timeout=10).startswith("Hello, Bob!")
            for _ in range(2):
                first.send("one")
                assert first.recv(timeout=10) == "you said: one"
            second.send("/quit")
            assert second.recv(timeout=10) == "Goodbye after 0 messages."
            assert closed(second) == (1000, "bye")
            first.send("/quit")
            assert first.recv(timeout=10) == "Goodbye after 2 messages."

    def test_a_message_over_max_message_closes_with_1009(self, served_chat: Live) -> None:
        with served_chat.ws("/chat") as chat:
            chat.recv(timeout=10)
            chat.send("x" * 5000)  # max_message 4KiB
            assert closed(chat)[0] == 1009

    def test_a_plain_request_is_told_to_upgrade(self, served_chat: Live) -> None:
        answer = served_chat.get("/chat")
        assert (answer.status_code, answer.text) == (426, "connect with a WebSocket client")

    def test_only_the_listed_browser_origins_may_connect(self, served_chat: Live) -> None:
        with served_chat.ws("/chat", origin="http://localhost:8080") as chat:
            assert chat.recv(timeout=10).startswith("Hello")
        with (
            pytest.raises(InvalidStatus) as refused,
            served_chat.ws("/chat", origin="https://elsewhere.example"),
        ):
            pass
        assert refused.value.response.status_code == 403
