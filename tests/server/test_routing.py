"""From a request's port, Host header and path to the handler that answers it."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyjinn.config import loads
from pyjinn.config.model import FunctionSpec, PathMatcher, Respond, Route, Site
from pyjinn.config.paths import RequestPath
from pyjinn.server.routing import Match, Router, _RouteTable, bind_host

RouterFactory = Callable[..., Router]


@pytest.fixture
def make_router(tmp_path: Path) -> RouterFactory:
    """A router for Caddyfile text (and extra global ``options``); every ``*.wasm`` it names is
    created as an empty file (the config loader only checks that module files exist)."""

    def make(caddyfile: str, options: str = "") -> Router:
        text = textwrap.dedent(caddyfile)
        for name in re.findall(r"[\w./-]+\.wasm", text):
            module = tmp_path / name
            module.parent.mkdir(parents=True, exist_ok=True)
            module.touch()
        prefix = f"{{\n\tadmin off\n\t{options}\n}}\n"
        return Router(loads(prefix + text, base_dir=tmp_path, environ={}))

    return make


def answer(match: Match) -> tuple[str, str] | None:
    """What answered, in a form easy to compare: (function name or respond body, path seen)."""
    handler = match.handler
    if handler is None:
        return None
    if isinstance(handler, FunctionSpec):
        return (handler.name, match.path)
    assert isinstance(handler, Respond)
    return (handler.body, match.path)


def route(router: Router, path: str, *, port: int = 8080) -> tuple[str, str] | None:
    site = router.site_for(port, "example.com")
    assert site is not None
    return answer(router.match(site, path))


def name_of(site: Site | None) -> str | None:
    """The body of the site's first respond route: how these tests tell sites apart."""
    if site is None:
        return None
    handler = site.routes[0].handler
    assert isinstance(handler, Respond)
    return handler.body


# bind_host


@pytest.mark.parametrize(
    ("host", "interface"),
    [
        (None, "0.0.0.0"),
        ("localhost", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("192.0.2.10", "192.0.2.10"),
        ("0.0.0.0", "0.0.0.0"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:0db8:0000::0001]", "2001:db8::1"),
        ("[::]", "::"),
        ("example.com", "0.0.0.0"),
        ("api.example.com", "0.0.0.0"),
    ],
)
def test_bind_host_listens_on_the_sites_ip_loopback_for_localhost_else_everywhere(
    host: str | None, interface: str
) -> None:
    assert bind_host(host) == interface


# Site selection


MULTI_HOST = """
    api.example.com:8080 {
        respond "api"
    }
    WWW.Example.com:8080 {
        respond "www"
    }
    :8080 {
        respond "wildcard"
    }
    :9090 {
        respond "other port"
    }
"""


@pytest.mark.parametrize(
    ("port", "host_header", "site"),
    [
        (8080, "api.example.com", "api"),
        (8080, "api.example.com:8080", "api"),
        (8080, "API.EXAMPLE.COM:8080", "api"),
        (8080, "www.example.com", "www"),
        (8080, "unknown.example.com", "wildcard"),
        (8080, "127.0.0.1:8080", "wildcard"),
        (8080, None, "wildcard"),
        (8080, "", "wildcard"),
        (9090, "api.example.com", "other port"),
        (9090, None, "other port"),
    ],
)
def test_a_site_is_chosen_by_port_then_host_header_with_wildcard_fallback(
    make_router: RouterFactory, port: int, host_header: str | None, site: str
) -> None:
    router = make_router(MULTI_HOST)
    assert name_of(router.site_for(port, host_header)) == site


def test_hostname_sites_without_a_wildcard_answer_only_their_hosts(
    make_router: RouterFactory,
) -> None:
    router = make_router(
        """
        a.example.com:8080 {
            respond "a"
        }
        b.example.com:8080 {
            respond "b"
        }
        """
    )
    assert name_of(router.site_for(8080, "b.example.com")) == "b"
    assert router.site_for(8080, "c.example.com") is None
    assert router.site_for(8080, None) is None


@pytest.mark.parametrize("address", ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"])
def test_a_site_on_an_ip_or_localhost_answers_any_host_header(
    make_router: RouterFactory, address: str
) -> None:
    router = make_router(f'{address} {{\n    respond "local"\n}}\n:9090 {{\n    respond "x"\n}}\n')
    assert name_of(router.site_for(8080, "whatever.example")) == "local"
    assert name_of(router.site_for(8080, None)) == "local"


def test_a_site_on_the_all_interfaces_ip_answers_any_host_header(
    make_router: RouterFactory,
) -> None:
    # 0.0.0.0 is an IP address like any other, not a hostname to compare Host headers with.
    router = make_router('0.0.0.0:8080 {\n    respond "all"\n}\n:9090 {\n    respond "x"\n}\n')
    assert name_of(router.site_for(8080, "example.com")) == "all"
    assert name_of(router.site_for(8080, "127.0.0.1:8080")) == "all"


def test_an_ip_site_and_a_hostname_site_on_one_port_split_by_host_header(
    make_router: RouterFactory,
) -> None:
    router = make_router(
        """
        0.0.0.0:8080 {
            respond "ip"
        }
        app.example.com:8080 {
            respond "app"
        }
        """
    )
    assert name_of(router.site_for(8080, "app.example.com")) == "app"
    assert name_of(router.site_for(8080, "other.example.com")) == "ip"


def test_the_first_wildcard_site_on_a_port_is_the_fallback(make_router: RouterFactory) -> None:
    router = make_router(
        """
        :8080, :9090 {
            respond "first"
        }
        127.0.0.1:9090 {
            respond "second"
        }
        """
    )
    assert name_of(router.site_for(9090, "anything")) == "first"


def test_a_site_listening_on_several_addresses_is_found_on_each(
    make_router: RouterFactory,
) -> None:
    router = make_router(
        """
        :8080, shop.example.com:9090 {
            respond "shop"
        }
        :7070 {
            respond "other"
        }
        """
    )
    assert name_of(router.site_for(8080, None)) == "shop"
    assert name_of(router.site_for(9090, "shop.example.com")) == "shop"
    assert router.site_for(9090, "elsewhere.example.com") is None


@pytest.mark.parametrize("port", [None, 1234])
def test_with_a_single_site_an_unknown_or_missing_port_still_finds_it(
    make_router: RouterFactory, port: int | None
) -> None:
    router = make_router('api.example.com:8080 {\n    respond "only"\n}\n')
    assert name_of(router.site_for(port, "unrelated.example")) == "only"


@pytest.mark.parametrize("port", [None, 1234])
def test_with_several_sites_an_unknown_or_missing_port_is_ambiguous(
    make_router: RouterFactory, port: int | None
) -> None:
    router = make_router(MULTI_HOST)
    assert router.site_for(port, "api.example.com") is None


# Route matching


def test_exact_and_prefix_matchers_select_their_handlers(make_router: RouterFactory) -> None:
    router = make_router(
        """
        :8080 {
            pyjinn /hello hello.wasm
            pyjinn /api/* api.wasm
            respond /healthz "ok"
        }
        """
    )
    assert route(router, "/hello") == ("hello", "/hello")
    assert route(router, "/api/users") == ("api", "/api/users")
    assert route(router, "/api/") == ("api", "/api/")
    assert route(router, "/api") is None  # /api/* does not match /api
    assert route(router, "/hello/") is None
    assert route(router, "/healthz") == ("ok", "/healthz")


def test_a_site_with_no_matching_route_gives_none(make_router: RouterFactory) -> None:
    router = make_router(
        """
        :8080 {
            pyjinn /only only.wasm
        }
        """
    )
    assert route(router, "/only") == ("only", "/only")
    assert route(router, "/other") is None


INTERNAL = """
    :8080 {
        respond /internal/* "forbidden" 403
        pyjinn app.wasm
    }
"""


@pytest.mark.parametrize(
    "path",
    [
        "/internal/x",
        "/INTERNAL/x",
        "/Internal/X",
        "//internal/x",
        "/internal//x",
        "/a/../internal/x",
        "/./internal/x",
        "/public/../internal/x",
        "/../internal/x",
    ],
)
def test_a_respond_guard_cannot_be_walked_past_by_case_slashes_or_dot_segments(
    make_router: RouterFactory, path: str
) -> None:
    # The path router.match receives is already percent-decoded (uvicorn decodes %2e and %2f),
    # so /a/%2e%2e/internal/x arrives as /a/../internal/x.
    assert route(make_router(INTERNAL), path) == ("forbidden", clean(path))


@pytest.mark.parametrize("path", ["/public/x", "/internal", "/internalx", "/internal/../public"])
def test_paths_outside_the_guard_reach_the_function_cleaned(
    make_router: RouterFactory, path: str
) -> None:
    assert route(make_router(INTERNAL), path) == ("app", clean(path))


def clean(path: str) -> str:
    from pyjinn.config.paths import clean_path

    return clean_path(path)


CADDY_ORDER = """
    :8080 {
        respond "catch-all" 404
        respond /api* "prefix /api"
        respond /api/* "prefix /api/"
        handle /api/users/* {
            respond "users block"
        }
        respond /api/users "exact /api/users"
        respond /api/users/me "exact /api/users/me"
        respond /x "respond /x"
        handle /x* {
            respond "handle /x*"
        }
        respond /abc "abc, same length as /ab*: lexical order first"
        respond /ab* "prefix /ab"
    }
"""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # handle blocks come before every respond, whatever their patterns.
        ("/api/users/me", "users block"),
        ("/api/users/", "users block"),
        ("/x", "handle /x*"),
        ("/xy", "handle /x*"),
        ("/api/users", "exact /api/users"),
        ("/api/orders", "prefix /api/"),
        ("/api", "prefix /api"),
        ("/apiary", "prefix /api"),
        ("/abc", "abc, same length as /ab*: lexical order first"),
        ("/abd", "prefix /ab"),
        ("/", "catch-all"),
        ("/other", "catch-all"),
    ],
)
def test_routes_are_tried_in_caddys_directive_order_then_by_pattern(
    make_router: RouterFactory, path: str, body: str
) -> None:
    assert route(make_router(CADDY_ORDER), path) == (body, path)


def test_functions_come_after_respond_unless_the_order_option_moves_them(
    make_router: RouterFactory,
) -> None:
    text = """
        :8080 {
            pyjinn /api/* api.wasm
            respond /api/health "ok"
        }
        """
    assert route(make_router(text), "/api/health") == ("ok", "/api/health")
    moved = make_router(text, options="order pyjinn before respond")
    assert route(moved, "/api/health") == ("api", "/api/health")
    gojinn = make_router(text, options="order gojinn first")
    assert route(gojinn, "/api/health") == ("api", "/api/health")


def test_route_blocks_keep_file_order(make_router: RouterFactory) -> None:
    router = make_router(
        """
        :8080 {
            route {
                respond /a* "first, a prefix"
                respond /abc "second, exact"
            }
        }
        """
    )
    assert route(router, "/abc") == ("first, a prefix", "/abc")


NESTED = """
    :8080 {
        route /api/* {
            handle /api/v1/* {
                pyjinn v1.wasm
            }
            handle /api/v1/health {
                respond "v1 ok"
            }
            handle {
                respond "unknown api version" 404
            }
        }
        handle /admin/* {
            handle /admin/tools/* {
                route {
                    pyjinn /admin/tools/run run.wasm
                }
            }
        }
        handle_path /fn/* {
            handle_path /inner/* {
                pyjinn inner.wasm
            }
            pyjinn fn.wasm
        }
        handle_path /static* {
            route {
                respond /robots.txt "robots"
                respond "no such file" 404
            }
        }
        respond "site fallback" 404
    }
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # A route block keeps file order: /api/v1/* comes first and takes /api/v1/health.
        ("/api/v1/health", ("v1", "/api/v1/health")),
        ("/api/v1/users", ("v1", "/api/v1/users")),
        ("/api/v2/users", ("unknown api version", "/api/v2/users")),
        ("/admin/tools/run", ("run", "/admin/tools/run")),
        ("/fn/hello", ("fn", "/hello")),
        ("/fn/", ("fn", "/")),
        ("/fn/inner/deep/path", ("inner", "/deep/path")),
        ("/fn/inner/", ("inner", "/")),
        ("/static/robots.txt", ("robots", "/robots.txt")),
        ("/static/missing.css", ("no such file", "/missing.css")),
        ("/static", ("no such file", "/")),
        ("/fn", ("site fallback", "/fn")),
        ("/", ("site fallback", "/")),
    ],
)
def test_routes_descend_through_nested_blocks(
    make_router: RouterFactory, path: str, expected: tuple[str, str]
) -> None:
    assert route(make_router(NESTED), path) == expected


@pytest.mark.parametrize("path", ["/admin/", "/admin/users", "/admin/tools/other"])
def test_a_matched_handle_block_with_no_inner_match_answers_nothing(
    make_router: RouterFactory, path: str
) -> None:
    # Caddy would go on to the directives after the block; pyjinn answers 404 there (see
    # docs/configuration.md, "When nothing answers").
    assert route(make_router(NESTED), path) is None


@pytest.mark.parametrize(
    ("pattern", "path", "seen"),
    [
        ("/api/*", "/api/users", "/users"),
        ("/api/*", "/api/users/7/orders", "/users/7/orders"),
        ("/api/*", "/api/", "/"),
        ("/api/*", "/api//double", "/double"),
        ("/api/*", "/API/Users", "/Users"),
        ("/api*", "/api", "/"),
        ("/api*", "/api/users", "/users"),
        ("/api*", "/apiary", "/ary"),
        ("/api", "/api", "/"),
        ("/strip/*", "/strip/a/../b", "/b"),
    ],
)
def test_handle_path_strips_its_prefix_from_the_path_the_handler_sees(
    make_router: RouterFactory, pattern: str, path: str, seen: str
) -> None:
    router = make_router(
        f":8080 {{\n    handle_path {pattern} {{\n        pyjinn fn.wasm\n    }}\n}}\n"
    )
    assert route(router, path) == ("fn", seen)


@pytest.mark.parametrize("path", ["/strip/../../etc/passwd", "/strip/../x", "/STRIP/../etc"])
def test_handle_path_never_hands_a_function_a_path_above_its_prefix(
    make_router: RouterFactory, path: str
) -> None:
    # Cleaned first, these paths are not below /strip/ at all: the other route answers.
    router = make_router(
        """
        :8080 {
            handle_path /strip/* {
                pyjinn stripped.wasm
            }
            pyjinn other.wasm
        }
        """
    )
    assert route(router, path) == ("other", clean(path))


def test_handle_without_path_keeps_the_full_path(make_router: RouterFactory) -> None:
    router = make_router(":8080 {\n    handle /api/* {\n        pyjinn fn.wasm\n    }\n}\n")
    assert route(router, "/api/users") == ("fn", "/api/users")


def test_inner_matchers_of_handle_path_see_the_stripped_path(
    make_router: RouterFactory,
) -> None:
    router = make_router(
        """
        :8080 {
            handle_path /api/* {
                pyjinn /users users.wasm
                pyjinn /api/users wrong.wasm
            }
        }
        """
    )
    assert route(router, "/api/users") == ("users", "/users")
    assert route(router, "/api/api/users") == ("wrong", "/api/users")


def test_the_match_comes_from_the_site_it_was_asked_about(make_router: RouterFactory) -> None:
    router = make_router(
        """
        a.example.com:8080 {
            pyjinn a.wasm
        }
        b.example.com:8080 {
            pyjinn b.wasm
        }
        """
    )
    for host in ("a", "b"):
        site = router.site_for(8080, f"{host}.example.com")
        assert site is not None
        assert answer(router.match(site, "/x")) == (host, "/x")


# Header rules collected on the way


def test_header_rules_apply_by_matcher_and_block(make_router: RouterFactory) -> None:
    router = make_router(
        """
        :8080 {
            header X-Site site
            header /api/* X-Api yes
            handle /api/* {
                header X-Inner inner
                respond "api"
            }
            route /ordered/* {
                respond /ordered/early "early"
                header X-Late late
                respond "late"
            }
            respond "other"
        }
        """
    )
    site = router.site_for(8080, None)
    assert site is not None

    def fields(path: str) -> list[str]:
        return [op.name for rule in router.match(site, path).headers for op in rule.operations]

    # Sorted as Caddy sorts one directive: the rule with a matcher before the one without.
    assert fields("/api/x") == ["x-api", "x-site", "x-inner"]
    assert fields("/API/x") == ["x-api", "x-site", "x-inner"]
    assert fields("/other") == ["x-site"]
    assert fields("/ordered/early") == ["x-site"]  # the header comes after it in a route block
    assert fields("/ordered/late") == ["x-site", "x-late"]


# The route table proposes, the matchers decide


PATTERNS = st.sampled_from(
    ["/", "/a", "/a*", "/a/*", "/ab", "/ab*", "/a/b", "/a/b*", "/A/*", "//a/*", "/b*", None]
)


@given(
    patterns=st.lists(PATTERNS, min_size=1, max_size=8),
    path=st.lists(st.sampled_from(["a", "A", "b", "ab", "", ".", ".."]), max_size=4).map(
        lambda parts: "/" + "/".join(parts)
    ),
)
def test_the_route_table_finds_the_first_route_whose_matcher_matches(
    patterns: list[str | None], path: str
) -> None:
    routes = tuple(
        Route(PathMatcher(pattern) if pattern else None, handler=Respond(body=str(index)))
        for index, pattern in enumerate(patterns)
    )
    request = RequestPath.of(path)
    expected = next(
        (
            index
            for index, each in enumerate(routes)
            if each.matcher is None or each.matcher.matches(request)
        ),
        len(routes),
    )
    assert _RouteTable(routes).first_match(request) == expected
