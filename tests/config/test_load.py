"""Golden files pin how Caddyfiles load: valid ones to their parsed form, invalid ones to their
exact error text. Set PYJINN_UPDATE_GOLDEN=1 to rewrite the expected files after a deliberate
change, then review the diff."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from pyjinn.config import load, loads, to_dict
from pyjinn.config.model import Config
from pyjinn.errors import ConfigError, ConfigErrors, Location

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PYJINN_UPDATE_GOLDEN") == "1"

# The only environment golden files see, so they never depend on the machine running them.
GOLDEN_ENVIRON = {
    "PORT": "9090",
    "FN_TIMEOUT": "250ms",
    "GREETING": "hello from the environment",
    "EMPTY_VAR": "",
    "PUB_KEY": "cffb545d67f8a60be1bb32ca4a3fad1f3638203fcbceb1a0e5749c72d8230fac",
    "ACME_KEY": "acme-key-from-the-environment-0123",
    "NATS_PASSWORD": "a-nats-password-never-rendered",
    "DEBUG_SECRET": "a-debug-secret-never-rendered",
    "PG_PASSWORD": "a-postgres-password-never-rendered",
    "S3_SECRET_KEY": "an-s3-secret-never-rendered",
}


def _cases(kind: str) -> list[Path]:
    return sorted((GOLDEN / kind).glob("*.caddy"))


def _check_golden(expected_path: Path, actual: str) -> None:
    if UPDATE:
        expected_path.write_text(actual, encoding="utf-8")
        return
    if not expected_path.exists():
        pytest.fail(f"{expected_path} is missing; run with PYJINN_UPDATE_GOLDEN=1 to create it")
    assert actual == expected_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("caddyfile", _cases("valid"), ids=lambda path: path.stem)
def test_valid_caddyfile_loads_to_its_golden_form(
    caddyfile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(caddyfile.parent)
    config = load(caddyfile.name, environ=GOLDEN_ENVIRON)
    rendered = json.dumps(to_dict(config, caddyfile.parent), indent=2) + "\n"
    _check_golden(caddyfile.with_suffix(".json"), rendered)


@pytest.mark.parametrize("caddyfile", _cases("invalid"), ids=lambda path: path.stem)
def test_invalid_caddyfile_fails_with_its_golden_errors(
    caddyfile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(caddyfile.parent)
    with pytest.raises(ConfigErrors) as raised:
        load(caddyfile.name, environ=GOLDEN_ENVIRON)
    _check_golden(caddyfile.with_suffix(".txt"), str(raised.value) + "\n")


def test_every_golden_input_has_an_expected_file_and_no_expected_file_is_orphaned() -> None:
    for kind, suffix in (("valid", ".json"), ("invalid", ".txt")):
        inputs = {path.stem for path in _cases(kind)}
        expected = {path.stem for path in (GOLDEN / kind).glob(f"*{suffix}")}
        assert inputs == expected, kind


def test_every_error_names_file_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for caddyfile in _cases("invalid"):
        monkeypatch.chdir(caddyfile.parent)
        with pytest.raises(ConfigErrors) as raised:
            load(caddyfile.name, environ=GOLDEN_ENVIRON)
        for error in raised.value.errors:
            assert error.location is not None, (caddyfile.name, error.message)
            assert error.location.line >= 1


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    """A directory holding two (fake) modules, as a Caddyfile's directory would."""
    (tmp_path / "hello.wasm").write_bytes(b"\0asm\1\0\0\0")
    (tmp_path / "other.wat").write_text("(module)")
    return tmp_path


def test_loads_resolves_paths_against_base_dir_and_makes_them_absolute(site_dir: Path) -> None:
    config = loads(":8080 {\n pyjinn hello.wasm\n}\n", base_dir=site_dir, environ={})
    (spec,) = config.functions()
    assert spec.module_path == site_dir / "hello.wasm"
    assert spec.module_path.is_absolute()
    assert config.options.data_dir == site_dir / "data"
    assert config.source is None


def test_load_records_the_source_and_resolves_against_the_caddyfile_directory(
    site_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caddyfile = site_dir / "Caddyfile"
    caddyfile.write_text(":8080 {\n pyjinn hello.wasm\n}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load(caddyfile, environ={})
    assert config.source == caddyfile
    assert next(config.functions()).module_path == site_dir / "hello.wasm"


def test_environ_defaults_to_the_process_environment(
    site_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYJINN_TEST_PORT", "8123")
    config = loads(":{$PYJINN_TEST_PORT} {\n respond ok\n}\n", base_dir=site_dir)
    assert config.sites[0].addresses[0].port == 8123


def test_errors_carry_file_line_and_message_and_print_one_per_line(site_dir: Path) -> None:
    text = ":8080 {\n pyjinn hello.wasm {\n  timeout soon\n  pool_size many\n }\n}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads(text, filename="site.caddy", base_dir=site_dir, environ={})
    errors = raised.value.errors
    assert [error.location for error in errors] == [
        Location("site.caddy", 3),
        Location("site.caddy", 4),
    ]
    assert all(isinstance(error, ConfigError) for error in errors)
    assert str(raised.value).splitlines() == [
        "site.caddy:3: invalid duration 'soon' for timeout: "
        "expected a duration like 2s, 500ms or 1h30m",
        "site.caddy:4: invalid number 'many' for pool_size: expected a positive whole number",
    ]


def test_load_of_a_missing_file_raises_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match=r"cannot read .*nope\.caddy: no such file"):
        load(tmp_path / "nope.caddy", environ={})


def test_config_is_frozen(site_dir: Path) -> None:
    config = loads(":8080 {\n pyjinn hello.wasm\n}\n", base_dir=site_dir, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.sites = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        next(config.functions()).limits.timeout = 1.0  # type: ignore[misc]


def test_a_function_snippet_imported_twice_gets_a_name_per_route(site_dir: Path) -> None:
    text = "(fn) {\n pyjinn hello.wasm\n}\n:8080 {\n import fn\n handle /b {\n  import fn\n }\n}\n"
    config = loads(text, base_dir=site_dir, environ={})
    assert sorted(spec.name for spec in config.functions()) == ["hello.b", "hello.root"]


def test_a_named_function_snippet_imported_twice_blames_each_import(site_dir: Path) -> None:
    text = (
        "(fn) {\n pyjinn hello.wasm {\n  name hi\n }\n}\n"
        ":8080 {\n import fn\n handle /b {\n  import fn\n }\n}\n"
    )
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={})
    assert str(raised.value) == (
        "Caddyfile:2: function name 'hi' is used twice "
        "(Caddyfile:2 (imported at Caddyfile:7) and Caddyfile:2 (imported at Caddyfile:9)); "
        "give one of them another 'name'"
    )


def test_one_module_on_several_routes_is_named_after_each_route(site_dir: Path) -> None:
    # Gojinn's benchmark and mesh configs serve one module on several routes and sites.
    text = (
        ":8080 {\n pyjinn hello.wasm\n}\n"
        ":8081 {\n pyjinn /x hello.wasm\n route /kv/* {\n  pyjinn hello.wasm\n }\n}\n"
        ":8082 {\n route /kv/* {\n  pyjinn hello.wasm\n }\n}\n"
    )
    config = loads(text, base_dir=site_dir, environ={})
    assert [spec.name for spec in config.functions()] == [
        "hello.root",
        "hello.8081-kv",  # route before functions: Caddy's order
        "hello.x",
        "hello.8082-kv",
    ]
    named = ":8080 {\n pyjinn hello.wasm\n}\n:8081 {\n pyjinn /x hello.wasm {\n  name h2\n }\n}\n"
    config = loads(named, base_dir=site_dir, environ={})
    assert [spec.name for spec in config.functions()] == ["hello", "h2"]


def test_a_derived_name_never_takes_a_name_given_explicitly(site_dir: Path) -> None:
    text = (
        ":8080 {\n handle /a {\n  pyjinn hello.wasm\n }\n"
        " handle /b {\n  pyjinn hello.wasm\n }\n"
        " handle /c {\n  pyjinn hello.wasm {\n   name hello.a\n  }\n }\n}\n"
    )
    config = loads(text, base_dir=site_dir, environ={})
    assert sorted(spec.name for spec in config.functions()) == ["hello.a", "hello.a-2", "hello.b"]


def test_gojinn_is_an_alias_of_pyjinn(site_dir: Path) -> None:
    def function_of(directive: str) -> Config:
        return loads(
            f":8080 {{\n {directive} /x hello.wasm {{\n  timeout 2s\n }}\n}}\n",
            base_dir=site_dir,
            environ={},
        )

    assert function_of("gojinn") == function_of("pyjinn")


def test_a_leading_path_is_the_module_file_when_nothing_follows_it(site_dir: Path) -> None:
    module = site_dir / "hello.wasm"
    config = loads(f":8080 {{\n pyjinn {module}\n}}\n", base_dir=site_dir, environ={})
    route = config.sites[0].routes[0]
    assert route.matcher is None
    assert isinstance(route.handler, type(next(config.functions())))
    assert next(config.functions()).module_path == module


def test_an_address_list_may_continue_after_a_trailing_comma(site_dir: Path) -> None:
    text = ":8080,\n  127.0.0.1:8081,\n  [::1]:8082 {\n respond ok\n}\n"
    config = loads(text, base_dir=site_dir, environ={})
    assert [str(address) for address in config.sites[0].addresses] == [
        ":8080",
        "127.0.0.1:8081",
        "::1:8082",
    ]


def test_a_second_site_after_a_braceless_site_reads_as_a_directive(site_dir: Path) -> None:
    # Caddy's rule: without braces, everything after the address line belongs to that site.
    text = ":8080\nrespond ok\n:8081 {\n respond other\n}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={})
    assert str(raised.value).startswith("Caddyfile:3: unknown directive ':8081' in site block")


def test_a_caddyfile_that_is_not_utf8_is_refused_at_the_line_of_the_bad_byte(
    tmp_path: Path,
) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_bytes(b":8080 {\n respond caf\xe9\n}\n")
    with pytest.raises(ConfigErrors) as raised:
        load(caddyfile, environ={})
    (error,) = raised.value.errors
    assert error.location == Location(str(caddyfile), 2)
    assert error.message.endswith("it is not UTF-8 text (byte 0xe9 on line 2)")


@pytest.mark.parametrize(
    ("value", "what"), [("a\0b", "a NUL character"), ("caf\udce9", "bytes that are not UTF-8")]
)
def test_an_environment_value_that_is_not_text_is_refused_at_its_line(
    site_dir: Path, value: str, what: str
) -> None:
    # os.environ decodes stray bytes into lone surrogates; no later step may meet them.
    text = ':8080 {\n respond "ok"\n respond /x {env.BAD}\n}\n'
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={"BAD": value})
    assert str(raised.value) == (
        f"Caddyfile:3: environment variable BAD holds {what} (referenced as {{env.BAD}})"
    )


def test_text_holding_a_lone_surrogate_is_refused_at_its_line(site_dir: Path) -> None:
    with pytest.raises(ConfigErrors) as raised:
        loads(":8080 {\n respond ok\n import \ud800\n}\n", base_dir=site_dir, environ={})
    assert str(raised.value) == (
        "Caddyfile:3: this line holds text that is not UTF-8; a Caddyfile must be UTF-8 text"
    )


def test_imports_nested_too_deep_stop_the_load_with_one_error(site_dir: Path) -> None:
    chain = "".join(f"(s{n}) {{\n import s{n - 1}\n}}\n" for n in range(1, 41))
    text = "(s0) {\n respond ok\n}\n" + chain + ":8080 {\n import s40\n}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={})
    (error,) = raised.value.errors
    assert error.message == "imports are nested more than 32 deep here"


def test_snippets_that_double_at_every_level_stop_the_load_with_one_error(site_dir: Path) -> None:
    # Each snippet imports the one before twice: 2^30 lines if nothing stopped it.
    doubling = "".join(f"(s{n}) {{\n import s{n - 1}\n import s{n - 1}\n}}\n" for n in range(1, 31))
    text = "(s0) {\n respond ok\n}\n" + doubling + ":8080 {\n import s30\n}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={})
    (error,) = raised.value.errors
    assert error.message.startswith("imports paste more than 200000 lines in all")


def test_an_argument_index_too_large_for_int_is_a_missing_argument(site_dir: Path) -> None:
    huge = "9" * 5000
    text = f"(s) {{\n respond {{args[{huge}]}}\n}}\n:8080 {{\n import s a\n}}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={})
    assert (
        str(raised.value)
        == f"Caddyfile:5: import s passes 1 argument, but it uses {{args[{huge}]}}"
    )


def test_an_s3_endpoint_python_cannot_split_is_a_located_error(site_dir: Path) -> None:
    text = ":8080 {\n pyjinn hello.wasm {\n  s3_bucket media\n  s3_endpoint http://[\n }\n}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={})
    assert str(raised.value).startswith("Caddyfile:4: invalid s3_endpoint 'http://['")


# import arguments, in every spelling Caddy has had


def test_import_arguments_in_caddy_2_6_and_2_7_spellings_and_variadic_ranges(
    site_dir: Path,
) -> None:
    text = (
        "(s) {\n"
        ' respond /old "{args.0}-{args.1}"\n'
        ' respond /new "{args[0]}-{args[1]}"\n'
        " respond /all {args[1:]}\n"
        ' respond /none "x" {args[:0]} 202\n'
        "}\n"
        ":8080 {\n import s one 201\n}\n"
    )
    config = loads(text, base_dir=site_dir, environ={})
    answers = {
        str(route.matcher.pattern): (route.handler.status, route.handler.body)  # type: ignore[union-attr]
        for route in config.sites[0].routes
    }
    assert answers == {
        "/old": (200, "one-201"),
        "/new": (200, "one-201"),
        "/all": (201, ""),
        "/none": (202, "x"),
    }


@pytest.mark.parametrize(
    ("use", "message"),
    [
        ('"{args[5]}"', "import s passes 2 arguments, but it uses {args[5]}"),
        ('"{args.5}"', "import s passes 2 arguments, but it uses {args.5}"),
        ("{args[1:9]}", "import s passes 2 arguments, but it uses {args[1:9]}"),
        ('"x{args[:]}"', "import s: {args[:]} must be a token on its own"),
        ('"{args[x]}"', "import s: {args[x]} is not an argument index"),
    ],
)
def test_a_wrong_import_argument_is_an_error_at_the_import(
    site_dir: Path, use: str, message: str
) -> None:
    text = f"(s) {{\n respond /a {use}\n}}\n:8080 {{\n import s a b\n}}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={})
    assert f"Caddyfile:5: {message}" in str(raised.value).splitlines()


# The order option


def test_order_places_functions_and_refuses_what_it_cannot_place(site_dir: Path) -> None:
    text = '{{\n {option}\n}}\n:8080 {{\n pyjinn /a* hello.wasm\n respond /abc "r"\n}}\n'

    def first_answer(option: str) -> str:
        config = loads(text.format(option=option), base_dir=site_dir, environ={})
        return type(config.sites[0].routes[0].handler).__name__

    assert first_answer("order gojinn last") == "Respond"
    assert first_answer("order pyjinn before respond") == "FunctionSpec"
    assert first_answer("order gojinn before file_server") == "Respond"
    assert first_answer("order pyjinn after route") == "FunctionSpec"
    for option, message in [
        ("order pyjinn", "order expects a directive and first, last, before DIRECTIVE"),
        ("order pyjinn before", "order expects a directive and first, last, before DIRECTIVE"),
        ("order pyjinn last respond", "order expects a directive and first, last, before"),
        ("order nope last", "order: unknown directive 'nope'"),
        ("order pyjinn before nope", "order: cannot place pyjinn before 'nope'"),
        ("order pyjinn after gojinn", "order: cannot place pyjinn after 'gojinn'"),
    ]:
        with pytest.raises(ConfigErrors) as raised:
            loads(text.format(option=option), base_dir=site_dir, environ={})
        assert message in str(raised.value), option


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("import sites/*.caddy", "import of a glob pattern (sites/*.caddy) is not supported"),
        ("import s {\n  respond x\n }", "import with a block (Caddy 2.8's {block} in snippets)"),
    ],
)
def test_import_syntax_pyjinn_refuses_is_named(site_dir: Path, line: str, message: str) -> None:
    text = f'(s) {{\n respond "x"\n}}\n:8080 {{\n {line}\n respond /after "y"\n}}\n'
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=site_dir, environ={})
    (error,) = str(raised.value).splitlines()  # one error: the block is skipped, not misread
    assert error.startswith(f"Caddyfile:5: {message}")
