"""The differential layer: the table's Caddyfiles served by pyjinn and, where it is installed, by
Caddy; both must give the table's answers (pyjinn its own where the row says it differs).

All the table's sites go in one Caddyfile, each on a port of its own, so each server starts once.
Caddy gets only the rows its version knows (``Case.since``). The refusals are checked one
Caddyfile each: ``caddy adapt`` must fail, and pyjinn's load must name the problem.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyjinn.config import loads
from pyjinn.errors import ConfigErrors
from tests.conformance.servers import (
    ask,
    caddy_adapts,
    caddy_binary,
    caddy_version,
    free_ports,
    running_caddy,
    running_pyjinn,
)
from tests.conformance.table import CASES, REFUSALS, Case, Refusal

pytestmark = pytest.mark.slow

CADDY = caddy_binary()
CADDY_VERSION = caddy_version(CADDY) if CADDY else None


def caddyfile(cases: tuple[Case, ...], ports: list[int], options: str) -> str:
    """One Caddyfile serving every case in ``cases``, case i on ``ports[i]``."""
    parts = [f"{{\n{options}}}\n"]
    for case in cases:
        parts.append(textwrap.dedent(case.snippets).strip("\n") + "\n" if case.snippets else "")
    for case, port in zip(cases, ports, strict=True):
        parts.append(f":{port} {{\n{textwrap.dedent(case.site).strip(chr(10))}\n}}\n")
    return "\n".join(parts)


def served_by(request: pytest.FixtureRequest, server: str) -> dict[str, int]:
    ports: dict[str, int] = request.getfixturevalue(f"{server}_ports")
    return ports


@pytest.fixture(scope="module")
def pyjinn_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    directory = tmp_path_factory.mktemp("pyjinn")
    ports = free_ports(len(CASES))
    path = directory / "Caddyfile"
    path.write_text(caddyfile(CASES, ports, "\tadmin off\n"))
    with running_pyjinn(path, ports):
        yield {case.name: port for case, port in zip(CASES, ports, strict=True)}


@pytest.fixture(scope="module")
def caddy_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    if CADDY is None or CADDY_VERSION is None:
        pytest.skip("caddy is not installed (apt-get install caddy): live comparison skipped")
    cases = tuple(case for case in CASES if case.since <= CADDY_VERSION)
    directory = tmp_path_factory.mktemp("caddy")
    ports = free_ports(len(cases))
    path = directory / "Caddyfile"
    path.write_text(caddyfile(cases, ports, "\tadmin off\n\tauto_https off\n"))
    with running_caddy(CADDY, path, ports):
        yield {case.name: port for case, port in zip(cases, ports, strict=True)}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_pyjinn_gives_the_tables_answers(case: Case, request: pytest.FixtureRequest) -> None:
    port = served_by(request, "pyjinn")[case.name]
    problems = [
        f"{exchange.request.target}: {problem}"
        for exchange in case.exchanges
        for problem in ask(port, exchange.request).matches(exchange.expected_from_pyjinn)
    ]
    assert problems == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_caddy_gives_the_tables_answers(case: Case, request: pytest.FixtureRequest) -> None:
    ports = served_by(request, "caddy")
    if case.name not in ports:
        pytest.skip(f"Caddy {CADDY_VERSION} is older than this row ({case.since})")
    problems = [
        f"{exchange.request.target}: {problem}"
        for exchange in case.exchanges
        for problem in ask(ports[case.name], exchange.request).matches(exchange.caddy)
    ]
    assert problems == []


def test_every_difference_says_why() -> None:
    for case in CASES:
        for exchange in case.exchanges:
            assert (exchange.pyjinn is None) == (not exchange.why), exchange.request.target


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda refusal: refusal.name)
def test_pyjinn_refuses_what_caddy_refuses(refusal: Refusal, tmp_path: Path) -> None:
    site = f":8080 {{\n{refusal.site}\n}}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads("{\n\tadmin off\n}\n" + site, base_dir=tmp_path, environ={})
    assert refusal.message in str(raised.value)
    if CADDY is None or CADDY_VERSION is None:
        pytest.skip("caddy is not installed: only pyjinn's refusal was checked")
    if refusal.since > CADDY_VERSION:
        pytest.skip(f"Caddy {CADDY_VERSION} is older than this row ({refusal.since})")
    path = tmp_path / "Caddyfile"
    path.write_text("{\n\tadmin off\n\tauto_https off\n}\n" + site)
    accepted, said = caddy_adapts(CADDY, path)
    assert not accepted, said
