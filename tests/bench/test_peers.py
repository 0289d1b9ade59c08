"""The peers of the benchmark suite (bench/peers.py): a peer whose toolchain is missing is
skipped with the reason and the command that installs it; where they are installed, each
answers "hello"."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bench import guests, peers, peers_inprocess, processes
from bench.guests import Guests
from bench.http import wasmtime_cli


def guests_in(directory: Path) -> Guests:
    """The suite's guests record with only the C hello and CGI workload (built when zig is
    installed; None otherwise, as the suite leaves them)."""
    record = Guests(directory, *(directory / "none.wat" for _ in range(8)))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import ziglang  # noqa: F401
    except ImportError:
        record.skipped["c"] = "zig is not installed"
        return record
    for name, target, flags in (
        ("hello", "hello.wasm", ()),
        ("workload", "workload_cgi.wasm", ("-DCGI",)),
    ):
        command = [sys.executable, "-m", "ziglang", "cc", *guests.C_FLAGS, *flags]
        subprocess.run(
            [*command, "-o", str(directory / target), f"{name}.c"], cwd=guests.SOURCES, check=True
        )
    record.hello, record.workload_cgi = directory / "hello.wasm", directory / "workload_cgi.wasm"
    return record


def without_npm_peers(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv("PYJINN_CACHE", str(cache))
    monkeypatch.delenv("PYJINN_WORKERD", raising=False)
    monkeypatch.delenv("PYJINN_JCO_TRANSPILE", raising=False)


def test_missing_npm_peers_are_skipped_with_the_reason_and_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_npm_peers(monkeypatch, tmp_path / "cache")
    skipped: dict[str, str] = {}
    cli = tmp_path / "wasmtime"  # never run: the component cannot be built without jco
    servers, facts = peers.start_servers(
        Guests(tmp_path, *(tmp_path / "x" for _ in range(8))), tmp_path, cli, (), skipped
    )
    assert servers == {} and facts == {}
    assert set(skipped) == {"wasmtime_serve", "workerd"}
    npm = tmp_path / "cache" / "npm" / "node_modules"
    assert (
        f"workerd not found at {npm}/@cloudflare/workerd-linux-64/bin/workerd"
        in (skipped["workerd"])
    )
    assert "bash .ci/run bench" in skipped["workerd"]
    assert "@cloudflare/workerd-linux-64@1.20261123.1" in skipped["workerd"]
    # node may be missing too; either way the reason says what to install.
    assert "jco-transpile" in skipped["wasmtime_serve"] or "nodejs" in skipped["wasmtime_serve"]


def test_without_the_wasmtime_cli_wasmtime_serve_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_npm_peers(monkeypatch, tmp_path / "cache")
    skipped: dict[str, str] = {}
    peers.start_servers(Guests(tmp_path, *(tmp_path / "x" for _ in range(8))), tmp_path, None, (),
                        skipped)  # fmt: skip
    assert "no wasmtime CLI" in skipped["wasmtime_serve"]


def test_the_peers_part_records_a_missing_extism_and_measures_pyjinn_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_npm_peers(monkeypatch, tmp_path / "cache")
    monkeypatch.setitem(sys.modules, "extism", None)  # Python's own way to make an import fail
    lines: list[str] = []
    result = peers_inprocess.measure(
        Guests(tmp_path, *(tmp_path / "x" for _ in range(8))),
        tmp_path / "run",
        quick=True,
        echo=lines.append,
    )
    assert "pip install -e '.[peers]'" in result["skipped"]["extism"]
    assert "extism" not in result
    assert result["skipped"]["pyjinn_hello"]  # no C hello in this record: said why
    assert set(result["found"]) == {"node", "jco_transpile", "workerd", "extism"}
    assert "skipped" in result["found"]["workerd"]
    assert any(line.startswith("  peer workerd skipped: workerd not found") for line in lines)
    assert any(line.startswith("  peer extism skipped: the extism package") for line in lines)


def get(port: int, path: str, body: bytes | None = None) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body)
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: bytes = response.read()
        return answer


@pytest.mark.slow
def test_wasmtime_serve_answers_hello_from_the_component(tmp_path: Path) -> None:
    cli, where = wasmtime_cli(tmp_path)
    if cli is None:
        pytest.skip(where)
    for found in (peers.node(), peers.jco_transpile()):
        if found.path is None:
            pytest.skip(found.reason)
    server, facts, why = peers.start_wasmtime_serve(cli, tmp_path / "serve", ())
    assert server is not None, why
    try:
        processes.wait_until_ok(server, "/", timeout=60)
        assert get(server.port, "/") == b"hello"
        assert facts["component_bytes"] < 20_000
    finally:
        server.stop()


@pytest.mark.slow
def test_workerd_answers_hello_and_the_workload_in_js_and_wasm(tmp_path: Path) -> None:
    if peers.workerd().path is None:
        pytest.skip(peers.workerd().reason)
    built = guests_in(tmp_path / "guests")
    if built.hello is None:
        pytest.skip(built.skipped["c"])
    server, _, why = peers.start_workerd(built, tmp_path / "workerd")
    assert server is not None, why
    try:
        processes.wait_until_ok(server, "/hello", timeout=60)
        for path in ("/hello", "/wasm/hello"):
            assert get(server.port, path) == b"hello", path
        for path in ("/workload", "/wasm/workload"):
            answer = get(server.port, path, b'{"id":"1","value":100}')
            assert answer == b'{"id":"1","result":115}', path
    finally:
        server.stop()


@pytest.mark.slow
def test_extism_plugin_answers_hello_reused_and_fresh() -> None:
    pytest.importorskip("extism", reason="the peers extra is not installed")
    figures = peers_inprocess.measure_extism(repetitions=1, count=5, warmup=1)
    assert figures["reused"]["total_us"]["n"] == figures["fresh_per_call"]["total_us"]["n"] == 5
