"""The conformance table: small Caddyfiles, requests, and the answers Caddy gives.

Each answer is written down, so the table checks pyjinn without Caddy; where Caddy is installed,
the same Caddyfiles are served by Caddy too and its answers compared with the table
(test_caddy.py). ``since`` is the oldest Caddy whose answers these are: the Caddyfile syntax or the
ordering rule appeared then (heredocs and ``{args[N]}`` in 2.7.0, the present sorting of
``/x`` against ``/x*`` in 2.10.1); older Caddy skips those rows. Where pyjinn answers otherwise
on purpose, the row says what it answers and why (docs/configuration.md lists the same
differences).

The answers of rows since 2.6.2 were checked against Caddy 2.6.2 (Debian bookworm's package)
with test_caddy.py; the others follow Caddy's source (caddyconfig/caddyfile/lexer.go,
importargs.go, httpcaddyfile/httptype.go sortRoutes, modules/caddyhttp/headers).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    target: str
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"


@dataclass(frozen=True)
class Answer:
    """Status and body, and the headers to compare (None: absent)."""

    status: int
    body: str
    headers: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Exchange:
    """A request and Caddy's answer; ``pyjinn`` when pyjinn answers otherwise on purpose, with
    the reason in ``why``."""

    request: Request
    caddy: Answer
    pyjinn: Answer | None = None
    why: str = ""

    @property
    def expected_from_pyjinn(self) -> Answer:
        return self.pyjinn or self.caddy


@dataclass(frozen=True)
class Case:
    """A site (its directives, served as ``:PORT { ... }``), the snippets it imports, and what
    it answers."""

    name: str
    site: str
    exchanges: tuple[Exchange, ...]
    snippets: str = ""
    since: tuple[int, int, int] = (2, 6, 2)


@dataclass(frozen=True)
class Refusal:
    """A site both Caddy and pyjinn refuse to load; ``message`` is in pyjinn's error."""

    name: str
    site: str
    message: str
    since: tuple[int, int, int] = (2, 6, 2)


def get(target: str, *headers: tuple[str, str]) -> Request:
    return Request(target, headers)


NOTHING = Answer(200, "")  # Caddy's answer when no handler answers
NO_ROUTE = Answer(404, '{"error": "no route for this path"}')
NO_FALL_THROUGH = (
    "pyjinn answers 404 when a matched block has nothing that answers, instead of going on "
    "with the directives after it (or an empty 200)"
)
CLEANED = "pyjinn decodes, then cleans: a handler never sees dot segments"
LEADING_SLASH = "the path a handler sees always starts with /"

FORBIDDEN = Answer(403, "forbidden")

CASES = (
    Case(
        "a guard cannot be walked past: case, slashes, dot segments, %2e",
        """
        respond /internal/* "forbidden" 403
        respond "catch {path}"
        """,
        (
            Exchange(get("/internal/x"), FORBIDDEN),
            Exchange(get("/INTERNAL/x"), FORBIDDEN),
            Exchange(get("/Internal/X"), FORBIDDEN),
            Exchange(get("//internal/x"), FORBIDDEN),
            Exchange(get("/internal//x"), FORBIDDEN),
            Exchange(get("/a/../internal/x"), FORBIDDEN),
            Exchange(get("/./internal/x"), FORBIDDEN),
            Exchange(get("/a/%2e%2e/internal/x"), FORBIDDEN),
            Exchange(get("/a/%2E%2E/internal/x"), FORBIDDEN),
            Exchange(get("/internal%2fx"), FORBIDDEN),
            Exchange(get("/%69nternal/x"), FORBIDDEN),
            Exchange(get("/public/x"), Answer(200, "catch /public/x")),
            Exchange(get("/internal"), Answer(200, "catch /internal")),
            Exchange(get("/internal/../public/x"), Answer(200, "catch /internal/../public/x")),
            Exchange(get("/a/./b//c/"), Answer(200, "catch /a/./b//c/")),
        ),
    ),
    Case(
        "handle blocks come before respond",
        """
        respond /x "R"
        handle /x* {
            respond "H"
        }
        """,
        (
            Exchange(get("/x"), Answer(200, "H")),
            Exchange(get("/xy"), Answer(200, "H")),
            Exchange(get("/y"), NOTHING, NO_ROUTE, "pyjinn answers 404 when no route matches"),
        ),
    ),
    Case(
        "route blocks keep file order",
        """
        route {
            respond /a* "first"
            respond /abc "second"
        }
        """,
        (
            Exchange(get("/abc"), Answer(200, "first")),
            Exchange(get("/abd"), Answer(200, "first")),
        ),
    ),
    Case(
        "one directive's routes: the longer pattern first",
        """
        respond /a* "a"
        respond /abc "abc"
        respond /ab* "ab"
        """,
        (
            Exchange(get("/abc"), Answer(200, "abc")),
            Exchange(get("/abd"), Answer(200, "ab")),
            Exchange(get("/ABD"), Answer(200, "ab")),
            Exchange(get("/a"), Answer(200, "a")),
        ),
    ),
    Case(
        "/x before /x*, and lengths without the *",
        """
        respond /api* "prefix"
        respond /apix "longer"
        respond /api "exact"
        respond /b/* "b/"
        respond /b/c "b/c"
        """,
        (
            Exchange(get("/api"), Answer(200, "exact")),
            Exchange(get("/apix"), Answer(200, "longer")),
            Exchange(get("/apiy"), Answer(200, "prefix")),
            # Compared without its *, /b/* is shorter than /b/c (Caddy 2.6 counted the *).
            Exchange(get("/b/c"), Answer(200, "b/c")),
        ),
        since=(2, 10, 1),
    ),
    Case(
        "handle_path strips its prefix from the cleaned path",
        """
        handle_path /strip/* {
            respond "{path}|{uri}"
        }
        respond "other {path}"
        """,
        (
            Exchange(get("/strip/a/b"), Answer(200, "/a/b|/a/b")),
            Exchange(get("/STRIP/A/b"), Answer(200, "/A/b|/A/b")),
            Exchange(get("/strip//a"), Answer(200, "/a|/a")),
            Exchange(get("/strip/a/../b"), Answer(200, "/b|/b")),
            Exchange(get("/strip/?q=1"), Answer(200, "/|/?q=1")),
            Exchange(get("/strip/../../etc/passwd"), Answer(200, "other /strip/../../etc/passwd")),
            Exchange(
                get("/strip/a/%2e%2e/b"),
                Answer(200, "/a/../b|/a/%2e%2e/b"),
                Answer(200, "/b|/b"),
                CLEANED,
            ),
        ),
    ),
    Case(
        "handle_path with a prefix that does not end in a slash",
        """
        handle_path /b* {
            respond "[{path}]"
        }
        """,
        (
            Exchange(get("/b/x"), Answer(200, "[/x]")),
            Exchange(get("/bee"), Answer(200, "[ee]"), Answer(200, "[/ee]"), LEADING_SLASH),
        ),
    ),
    Case(
        "a matched handle whose contents match nothing",
        """
        handle /a/* {
            respond /a/x "X"
        }
        respond "fallback"
        """,
        (
            Exchange(get("/a/x"), Answer(200, "X")),
            Exchange(get("/a/y"), Answer(200, "fallback"), NO_ROUTE, NO_FALL_THROUGH),
            Exchange(get("/b"), Answer(200, "fallback")),
        ),
    ),
    Case(
        "request placeholders in a respond body",
        'respond "{method} {http.request.method} {path} {http.request.uri.path} {query} '
        "{query.name} {http.request.uri.query.name} {uri} {http.request.uri} {host} "
        "{http.request.host} {hostport} {header.X-T} {http.request.header.X-T} {dir} "
        '{file} {path.0} {remote_host} {scheme} {foo} \\{path\\}"',
        (
            Exchange(
                get(
                    "/api/x?name=Ada&name=B",
                    ("X-T", "one"),
                    ("X-T", "two"),
                    ("Host", "example.com:8080"),
                ),
                Answer(
                    200,
                    "GET GET /api/x /api/x name=Ada&name=B Ada,B Ada,B /api/x?name=Ada&name=B "
                    "/api/x?name=Ada&name=B example.com example.com example.com:8080 one,two "
                    "one,two /api/ x api 127.0.0.1 http {foo} {path}",
                ),
            ),
        ),
    ),
    Case(
        "respond sets Content-Type from its body",
        """
        respond /j `{"path": "{path}"}`
        respond /t "text"
        respond /e ""
        respond /s 204
        """,
        (
            Exchange(
                get("/j"),
                Answer(200, '{"path": "/j"}', {"Content-Type": "application/json"}),
            ),
            Exchange(get("/t"), Answer(200, "text", {"Content-Type": "text/plain; charset=utf-8"})),
            Exchange(get("/e"), Answer(200, "", {"Content-Type": None})),
            Exchange(get("/s"), Answer(204, "", {"Content-Type": None})),
        ),
    ),
    Case(
        "header: set, add, delete and default, in blocks and by matcher",
        """
        header X-Site site
        header /api/* X-Api yes
        header ?X-Default dflt
        header -X-Remove-*
        handle /api/* {
            header +X-Site inner
            header X-Remove-Me x
            header X-Echo "{query.v}"
            respond "api"
        }
        respond "other"
        """,
        (
            Exchange(
                get("/api/x?v=echoed"),
                Answer(
                    200,
                    "api",
                    {
                        "X-Site": "site, inner",
                        "X-Api": "yes",
                        "X-Default": "dflt",
                        "X-Remove-Me": None,
                        "X-Echo": "echoed",
                    },
                ),
            ),
            Exchange(
                get("/other"),
                Answer(200, "other", {"X-Site": "site", "X-Api": None, "X-Default": "dflt"}),
            ),
        ),
    ),
    Case(
        "header: > sets after the answer",
        """
        header >X-Frame-Options DENY
        respond "x"
        """,
        (Exchange(get("/"), Answer(200, "x", {"X-Frame-Options": "DENY"})),),
        since=(2, 7, 0),
    ),
    Case(
        "import arguments, Caddy 2.6's spelling",
        """
        import greet a Ada
        """,
        (
            Exchange(get("/a"), Answer(200, "hello Ada")),
            Exchange(get("/A"), Answer(200, "hello Ada")),
        ),
        snippets="""
        (greet) {
            respond /{args.0} "hello {args.1}"
        }
        """,
    ),
    Case(
        "import arguments, Caddy 2.7's spellings",
        """
        import greet2 b Bea 201
        """,
        (
            Exchange(get("/b"), Answer(200, "hello Bea")),
            Exchange(get("/all"), Answer(201, "Bea")),
        ),
        snippets="""
        (greet2) {
            respond /{args[0]} "hello {args[1]}"
            respond /all {args[1:]}
        }
        """,
        since=(2, 7, 0),
    ),
    Case(
        "quoting: only a quote is escaped in double quotes; backticks are raw",
        """
        respond /q "a\\"b"
        respond /nl "a\\
        b"
        respond /bs "x\\\\"
        respond /t "x\\ty"
        respond /bt `{"a": "b\\"c"}`
        respond /hash "#not-a-comment" # but this is one
        respond /word word#hash
        """,
        (
            Exchange(get("/q"), Answer(200, 'a"b')),
            Exchange(get("/nl"), Answer(200, "a\\\nb")),
            Exchange(get("/bs"), Answer(200, "x\\\\")),
            Exchange(get("/t"), Answer(200, "x\\ty")),
            Exchange(get("/bt"), Answer(200, '{"a": "b\\"c"}')),
            Exchange(get("/hash"), Answer(200, "#not-a-comment")),
            Exchange(get("/word"), Answer(200, "word#hash")),
        ),
    ),
    Case(
        "a backslash at the end of a line continues it",
        """
        respond /c \\
            "continued" \\
            201
        """,
        (Exchange(get("/c"), Answer(201, "continued")),),
    ),
    Case(
        "heredocs",
        """
        respond /h <<TXT
            line one
              line two

            TXT 202
        respond /e \\<<TXT
        """,
        (
            Exchange(get("/h"), Answer(202, "line one\n  line two\n")),
            Exchange(get("/e"), Answer(200, "<<TXT")),
        ),
        since=(2, 7, 0),
    ),
)

REFUSALS = (
    Refusal(
        "respond with a matcher and nothing else", 'respond /x\nrespond "ok"', "respond expects"
    ),
    Refusal("respond without anything", "respond", "respond expects"),
    Refusal("handle_path without a matcher", 'handle_path {\n\trespond "x"\n}', "handle_path"),
    Refusal(
        "a heredoc without a marker",
        "respond <<\nx\n",
        "a heredoc needs a marker",
        since=(2, 7, 0),
    ),
)
