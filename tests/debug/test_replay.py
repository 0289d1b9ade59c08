"""A failure recorded in production replays offline to the same failure, every time; a changed
module diverges where it asks something else, and a rebuilt one proves its fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest

from pyjinn.config import loads
from pyjinn.debug import replay as replaying
from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from pyjinn.services import NatsConnection, Services
from pyjinn.services.nats import EmbeddedNats
from tests.debug.guests import CLOCK_ODD_TRAPS, FAILURES, RANDOM_EVEN_TRAPS, guest, kv_guest

pytestmark = pytest.mark.anyio


def site(module: str, settings: str = "", name: str = "fn") -> str:
    return f":8080 {{\n pyjinn /* {module} {{\n name {name}\n {settings}\n }}\n}}\n"


@pytest.mark.parametrize("kind", sorted(FAILURES))
async def test_each_failure_kind_replays_to_reproduced(
    kind, make_client, project, records, replay
) -> None:
    body, settings = FAILURES[kind]
    project("guest.wat", guest(body))
    client = make_client(site("guest.wat", settings))
    response = await client.get("/")
    assert response.status_code in (502, 504)
    [record] = records()
    expected_kind = "invalid_output" if kind == "missing_output" else kind
    assert record.document["outcome"]["kind"] == expected_kind
    verdict = replay(record)
    assert verdict.verdict == replaying.REPRODUCED, verdict.to_json()
    assert verdict.replayed["kind"] == expected_kind


async def test_a_trap_replays_at_the_same_place_with_the_same_output(
    make_client, project, records, replay
) -> None:
    project("guest.wat", guest(FAILURES["trap"][0]))
    await make_client(site("guest.wat")).get("/")
    [record] = records()
    verdict = replay(record)
    assert verdict.verdict == replaying.REPRODUCED
    assert verdict.recorded["location"] == verdict.replayed["location"]
    assert verdict.recorded["location"].startswith("fail+")
    assert record.member("stdout").startswith(b'{"status":200')


async def test_a_guest_that_traps_on_an_even_random_byte_reproduces_every_time(
    make_client, project, records, replay
) -> None:
    project("random.wat", RANDOM_EVEN_TRAPS)
    client = make_client(site("random.wat"))
    statuses = [(await client.get("/")).status_code for _ in range(24)]
    assert 502 in statuses and 200 in statuses  # both outcomes happened: randomness is live
    failed = records()
    assert len(failed) == statuses.count(502)
    for record in failed:
        assert record.member("random")[0] % 2 == 0
        assert replay(record).verdict == replaying.REPRODUCED


async def test_a_guest_that_traps_on_odd_clock_nanoseconds_reproduces_every_time(
    make_client, project, records, replay
) -> None:
    project("clock.wat", CLOCK_ODD_TRAPS)
    client = make_client(site("clock.wat"))
    statuses = [(await client.get("/")).status_code for _ in range(24)]
    assert 502 in statuses
    failed = records()
    assert len(failed) == statuses.count(502)
    for record in failed:
        assert record.document["clocks"]["readings"] == 1
        assert replay(record).verdict == replaying.REPRODUCED


@pytest.fixture
def kv_server(tmp_path: Path):
    """A nats-server of this test's own, so the test can stop it."""
    server = EmbeddedNats(tmp_path / "nats")
    info = server.start()
    services = Services(NatsConnection((info.url,), info.user, info.password))
    yield server, services
    services.close()
    server.stop()


@pytest.mark.slow
async def test_a_guest_that_traps_on_a_kv_value_reproduces_with_the_nats_server_stopped(
    kv_server, tmp_path, project, records, replay
) -> None:
    server, services = kv_server
    project("reader.wat", kv_guest(b"flag"))
    services.kv_store().set("default", "flag", b"boom", timeout=5)
    text = "{\n admin off\n}\n" + site("reader.wat", "permissions {\n kv_read *\n }")
    assert await serve_once(tmp_path, text, services=services) == 502
    [record] = records()
    calls = [(call["call"], call["arguments"][0]) for call in record.document["host_calls"]]
    assert calls == [("kv_get", "flag"), ("result_read", {"buffer": [3072, 4]})]
    server.stop()
    verdict = replay(record)
    assert verdict.verdict == replaying.REPRODUCED, verdict.to_json()


async def serve_once(tmp_path: Path, text: str, **options: object) -> int:
    """Serve one GET / with a runtime of Caddyfile ``text``; its status. ``options`` go to
    ``loads`` (environ) and ``Runtime`` (services)."""
    environ = options.pop("environ", {})
    runtime = Runtime(loads(text, base_dir=tmp_path, environ=environ), **options)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=PyjinnApp(runtime)), base_url="http://testserver"
        ) as client:
            return (await client.get("/")).status_code
    finally:
        runtime.close()


@pytest.fixture
async def kv_recorded(tmp_path, project, records, kv_services):
    """A record of ``kv_guest`` failing on the value 'boom' under the key 'flag'."""
    project("reader.wat", kv_guest(b"flag"))
    kv_services.kv_store().set("default", "flag", b"boom", timeout=5)
    text = "{\n admin off\n}\n" + site("reader.wat", "permissions {\n kv_read *\n }")
    assert await serve_once(tmp_path, text, services=kv_services) == 502
    [record] = records()
    return record


async def test_secrets_left_out_of_a_record_must_be_given_and_are_named(
    tmp_path, project, records
) -> None:
    project("guest.wat", guest(FAILURES["trap"][0]))
    text = textwrap.dedent(
        """\
        {
            admin off
        }
        :8080 {
            pyjinn /* guest.wat {
                env TOKEN {env.CRASH_TOKEN}
            }
        }
        """
    )
    assert await serve_once(tmp_path, text, environ={"CRASH_TOKEN": "t0ken-value"}) == 502
    [record] = records()
    with pytest.raises(replaying.MissingSecrets, match="TOKEN") as missing:
        replaying.gather_secrets(record, {})
    assert missing.value.names == ["TOKEN"]
    assert replaying.gather_secrets(record, {"TOKEN": "t0ken-value"}) == {"TOKEN": b"t0ken-value"}


async def test_a_module_changed_to_read_another_key_diverges_at_that_call(
    kv_recorded, project, replay
) -> None:
    changed = project("changed.wat", kv_guest(b"other"))
    verdict = replay(kv_recorded, changed)
    assert verdict.verdict == replaying.DIVERGED
    assert verdict.where == (
        "host call #1: the guest called kv_get('other'), the record has kv_get('flag')"
    )


async def test_a_fixed_module_is_fixed_and_an_unfixed_one_still_fails(
    kv_recorded, project, replay
) -> None:
    fixed = project("fixed.wat", kv_guest(b"flag", on_boom="(nop)"))
    verdict = replay(kv_recorded, fixed)
    assert verdict.verdict == replaying.FIXED, verdict.to_json()
    assert verdict.response is not None and verdict.response["status"] == 200
    unfixed = project("unfixed.wat", kv_guest(b"flag", on_boom="(nop) (call $fail)"))
    assert replay(kv_recorded, unfixed).verdict == replaying.STILL_FAILING


async def test_a_record_whose_failure_no_longer_happens_says_so(kv_recorded, replay) -> None:
    # The recorded module, but the record's answer changed by hand: the failure is gone.
    for call in kv_recorded.document["host_calls"]:
        if call["call"] == "kv_get":
            call["result"] = {"base64": "b2sh"}  # "ok!": no longer starts with 'b'
        elif call["call"] == "result_read":
            call["result"] = 3
            call["arguments"] = [{"buffer": [3072, 3]}]
    verdict = replay(kv_recorded)
    assert verdict.verdict == replaying.NO_FAILURE, verdict.to_json()


@pytest.mark.slow
async def test_a_failure_that_depends_on_a_mounted_file_reproduces_with_its_contents(
    make_client, project, c_guest, records, replay, tmp_path
) -> None:
    project("reader.wasm", c_guest("mode_reader"))
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "mode.txt").write_text("crash now\n")
    (conf / "other.txt").write_text("unrelated\n")
    client = make_client(site("reader.wasm", "mount ./conf /conf ro"))
    assert (await client.get("/")).status_code == 502
    [record] = records()
    (conf / "mode.txt").write_text("calm\n")  # changed since: the replay needs only the record
    [mount] = record.document["sandbox"]["mounts"]
    assert [entry["path"] for entry in mount["entries"]] == ["mode.txt", "other.txt"]
    assert record.member("mounts/0/mode.txt") == b"crash now\n"
    verdict = replay(record)
    assert verdict.verdict == replaying.REPRODUCED, verdict.to_json()
