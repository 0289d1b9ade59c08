"""From a request's port, Host header and path to the handler that answers it."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pyjinn.config import loads
from pyjinn.config.model import FunctionSpec, Respond, Site
from pyjinn.server.routing import Match, Router, bind_host

RouterFactory = Callable[[str], Router]


@pytest.fixture
def make_router(tmp_path: Path) -> RouterFactory:
    """A router for Caddyfile text; every ``*.wasm`` it names is created as an empty file (the
    config loader only checks that module files exist)."""

    def make(caddyfile: str) -> Router:
        text = textwrap.dedent(caddyfile)
        for name in re.findall(r"[\w./-]+\.wasm", text):
            module = tmp_path / name
            module.parent.mkdir(parents=True, exist_ok=True)
            module.touch()
        return Router(loads("{\n\tadmin off\n}\n" + text, base_dir=tmp_path, environ={}))

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
            respond "fallback" 404
        }
        """
    )
    assert route(router, "/hello") == ("hello", "/hello")
    assert route(router, "/api/users") == ("api", "/api/users")
    assert route(router, "/api/") == ("api", "/api/")
    assert route(router, "/api") == ("fallback", "/api")  # /api/* does not match /api
    assert route(router, "/hello/") == ("fallback", "/hello/")


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


SPECIFICITY = """
    :8080 {
        respond "catch-all" 404
        respond /api* "prefix /api"
        respond /api/* "prefix /api/"
        handle /api/users/* {
            respond "users, first block"
        }
        handle /api/users/* {
            respond "users, second block"
        }
        respond /api/users "exact /api/users"
        respond /api/users/me "exact /api/users/me"
    }
"""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/users/me", "exact /api/users/me"),
        ("/api/users", "exact /api/users"),
        ("/api/users/42", "users, first block"),
        ("/api/users/", "users, first block"),
        ("/api/orders", "prefix /api/"),
        ("/api", "prefix /api"),
        ("/apiary", "prefix /api"),
        ("/", "catch-all"),
        ("/other", "catch-all"),
    ],
)
def test_the_first_match_in_specificity_order_answers(
    make_router: RouterFactory, path: str, body: str
) -> None:
    assert route(make_router(SPECIFICITY), path) == (body, path)


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
        ("/api/v1/health", ("v1 ok", "/api/v1/health")),
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
    # Like Caddy's handle blocks, a matched block is exclusive: the site fallback is not tried.
    assert route(make_router(NESTED), path) is None


@pytest.mark.parametrize(
    ("pattern", "path", "seen"),
    [
        ("/api/*", "/api/users", "/users"),
        ("/api/*", "/api/users/7/orders", "/users/7/orders"),
        ("/api/*", "/api/", "/"),
        ("/api/*", "/api//double", "//double"),
        ("/api*", "/api", "/"),
        ("/api*", "/api/users", "/users"),
        ("/api*", "/apiary", "/ary"),
    ],
)
def test_handle_path_strips_its_prefix_from_the_path_the_handler_sees(
    make_router: RouterFactory, pattern: str, path: str, seen: str
) -> None:
    router = make_router(
        f":8080 {{\n    handle_path {pattern} {{\n        pyjinn fn.wasm\n    }}\n}}\n"
    )
    assert route(router, path) == ("fn", seen)


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
