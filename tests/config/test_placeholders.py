"""Request placeholders in respond bodies and header values, read as Caddy's replacer reads
them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from pyjinn.config import loads
from pyjinn.config.placeholders import RequestInfo, compile_template

INFO = RequestInfo(
    method="POST",
    uri="/api/x/file.txt?name=Ada&name=B&e=",
    path="/api/x/file.txt",
    query="name=Ada&name=B&e=",
    headers=(
        (b"host", b"example.com:8080"),
        (b"x-t", b"one"),
        (b"X-T", b"two"),
        (b"cookie", b"session=abc; theme=dark"),
    ),
    remote_host="203.0.113.7",
    remote_port="4711",
)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("{path} {http.request.uri.path}", "/api/x/file.txt /api/x/file.txt"),
        ("{query.name}|{http.request.uri.query.name}|{query.e}|{query.no}", "Ada,B|Ada,B||"),
        ("{method} {http.request.method}", "POST POST"),
        ("{host} {hostport} {port}", "example.com example.com:8080 8080"),
        ("{uri}", "/api/x/file.txt?name=Ada&name=B&e="),
        ("{header.X-T} {http.request.header.x-t} {header.none}", "one,two one,two "),
        ("{cookie.theme}", "dark"),
        ("{path.0}/{path.2}/{path.9}", "api/file.txt/"),
        ("{dir} {file}", "/api/x/ file.txt"),
        (
            "{remote} {remote_host} {remote_port} {client_ip}",
            "203.0.113.7:4711 203.0.113.7 4711 203.0.113.7",
        ),
        ("{scheme} {http.request.proto}", "http HTTP/1.1"),
        ('{"path": "{path}"}', '{"path": "/api/x/file.txt"}'),
        ("{foo} {args} {} {", "{foo} {args} {} {"),
        ("\\{path\\} \\}", "{path} }"),
    ],
)
def test_placeholders_are_replaced_and_other_braces_kept(text: str, rendered: str) -> None:
    assert compile_template(text).render(INFO) == rendered


@pytest.mark.parametrize(
    "key",
    ["http.request.tls.version", "http.vars.x", "vars.x", "labels.0", "system.hostname",
     "time.now", "tls_cipher", "re.name.1", "http.request.foo"],
)  # fmt: skip
def test_caddy_placeholders_pyjinn_does_not_replace_are_refused_by_name(key: str) -> None:
    with pytest.raises(ValueError, match=rf"placeholder \{{{key}\}} is not supported"):
        compile_template(f"a {{{key}}} b")


def test_a_config_with_placeholders_pickles_for_its_workers(tmp_path: Path) -> None:
    # pyjinn up hands configs to worker processes pickled.
    config = loads(
        ':8080 {\n header X-A "{query.a}"\n respond "{path} {header.X}"\n}\n',
        base_dir=tmp_path,
        environ={},
    )
    assert pickle.loads(pickle.dumps(config)) == config
