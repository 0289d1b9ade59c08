"""Where outbound requests may connect: names resolved once and pinned, special addresses
refused unless listed, redirects re-checked and bounded, credentials kept to their origin,
deadlines that no slow server or resolver outlasts, TLS verified against the name.

Real HTTP(S) servers on loopback answer (tests/servers.py). Names like ``rebind.test`` are
mapped to addresses by a resolver given to the client (``EgressClient(resolver=...)``), the
hook the client has for that: a test cannot publish DNS records, but everything after the name
lookup (the check of the addresses, the sockets, TLS and HTTP) is the real path.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyjinn.egress import (
    AddressRefused,
    AllowList,
    EgressClient,
    EgressDenied,
    EgressLimit,
    EgressTimeout,
    EgressUnavailable,
)
from pyjinn.egress.addresses import check_addresses, special_address, system_resolver
from tests.servers import ScriptedHttp


@pytest.fixture
def scripted() -> Iterator[ScriptedHttp]:
    server = ScriptedHttp()
    yield server
    server.stop()


class Names:
    """A resolver for made-up names (each mapped to addresses); other names go to the system's
    resolver. Counts the lookups of each name."""

    def __init__(self, **names: list[str]) -> None:
        self.names = {name.replace("_", "."): addresses for name, addresses in names.items()}
        self.lookups: dict[str, int] = {}

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups[host] = self.lookups.get(host, 0) + 1
        if host in self.names:
            return self.names[host]
        return system_resolver(host, port)


@pytest.fixture
def make_client() -> Iterator[Callable[..., EgressClient]]:
    clients: list[EgressClient] = []

    def make(resolver: Names | None = None, **options: object) -> EgressClient:
        client = EgressClient(resolver=resolver or Names(), **options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "reserved"),  # shared address space (carrier-grade NAT)
        ("192.0.2.1", "private"),  # documentation
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_special_addresses_are_named_for_what_they_are(address: str, kind: str) -> None:
    reason = special_address(ipaddress.ip_address(address))
    assert reason is not None and kind in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2001:4860:4860::8888"])
def test_public_addresses_are_not_special(address: str) -> None:
    assert special_address(ipaddress.ip_address(address)) is None


def test_a_name_resolving_to_loopback_is_refused_without_a_connection(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    client = make_client(Names(rebind_test=["127.0.0.1"]))
    allow = AllowList.parse([f"rebind.test:{scripted.port}"])
    with pytest.raises(AddressRefused, match=r"rebind\.test resolved to 127\.0\.0\.1, a loopback"):
        client.request(
            "GET", f"http://rebind.test:{scripted.port}/ok", allow=allow, deadline=soon()
        )
    assert scripted.connections == 0


def test_a_name_resolving_to_the_metadata_address_is_refused(
    make_client: Callable[..., EgressClient],
) -> None:
    client = make_client(Names(metadata_test=["169.254.169.254"]))
    with pytest.raises(AddressRefused, match="a cloud metadata address"):
        client.request(
            "GET",
            "http://metadata.test/latest/meta-data/",
            allow=AllowList.parse(["metadata.test"]),
            deadline=soon(),
        )


def test_an_answer_mixing_public_and_loopback_addresses_is_refused_whole(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    client = make_client(Names(mixed_test=["93.184.215.14", "127.0.0.1"]))
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.1"):
        client.request(
            "GET",
            f"http://mixed.test:{scripted.port}/ok",
            allow=AllowList.parse(["mixed.test"]),
            deadline=soon(),
        )
    assert scripted.connections == 0


def test_the_address_listed_itself_allows_the_name_that_resolves_to_it(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    client = make_client(Names(internal_test=["127.0.0.1"]))
    allow = AllowList.parse([f"internal.test:{scripted.port}", f"127.0.0.1:{scripted.port}"])
    answer = client.request(
        "GET", f"http://internal.test:{scripted.port}/echo", allow=allow, deadline=soon()
    )
    assert answer.status == 200
    assert scripted.headers[-1]["host"] == f"internal.test:{scripted.port}"


def test_an_address_listed_for_another_port_does_not_allow_it(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    client = make_client(Names(internal_test=["127.0.0.1"]))
    allow = AllowList.parse([f"internal.test:{scripted.port}", "127.0.0.1:1"])
    with pytest.raises(AddressRefused, match=f"lists 127.0.0.1:{scripted.port} itself"):
        client.request(
            "GET", f"http://internal.test:{scripted.port}/ok", allow=allow, deadline=soon()
        )


def test_localhost_named_in_the_list_means_loopback(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    # The system's resolver answers for localhost (RFC 6761 names never come from DNS).
    client = make_client()
    allow = AllowList.parse([f"localhost:{scripted.port}"])
    answer = client.request(
        "GET", f"http://localhost:{scripted.port}/ok", allow=allow, deadline=soon()
    )
    assert answer.status == 200


def test_localhost_may_not_resolve_to_anything_but_loopback() -> None:
    with pytest.raises(AddressRefused, match=r"10\.0\.0\.1"):
        check_addresses("localhost", 80, ["10.0.0.1"], AllowList.parse(["localhost"]))


def test_a_name_is_resolved_once_per_connection(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    names = Names(pinned_test=["127.0.0.1"])
    client = make_client(names)
    allow = AllowList.parse([f"pinned.test:{scripted.port}", f"127.0.0.1:{scripted.port}"])
    for _ in range(3):
        answer = client.request(
            "GET", f"http://pinned.test:{scripted.port}/ok", allow=allow, deadline=soon()
        )
        assert answer.status == 200
    assert names.lookups == {"pinned.test": 1}
    assert scripted.connections == 1  # the pooled connection, to the address checked


def test_a_connection_opened_under_one_list_serves_no_other(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    names = Names(shared_test=["127.0.0.1"])
    client = make_client(names)
    url = f"http://shared.test:{scripted.port}/ok"
    lenient = AllowList.parse([f"shared.test:{scripted.port}", f"127.0.0.1:{scripted.port}"])
    strict = AllowList.parse([f"shared.test:{scripted.port}"])
    assert client.request("GET", url, allow=lenient, deadline=soon()).status == 200
    with pytest.raises(AddressRefused):
        client.request("GET", url, allow=strict, deadline=soon())


def test_a_redirect_to_a_name_resolving_to_loopback_is_not_followed(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    other = ScriptedHttp()
    try:
        client = make_client(Names(inside_test=["127.0.0.1"]))
        scripted.redirect_to = f"http://inside.test:{other.port}/ok"
        allow = AllowList.parse([f"127.0.0.1:{scripted.port}", f"inside.test:{other.port}"])
        with pytest.raises(AddressRefused, match=r"inside\.test resolved to 127\.0\.0\.1"):
            client.request("GET", scripted.url("/redirect"), allow=allow, deadline=soon())
        assert other.connections == 0
    finally:
        other.stop()


def test_redirects_are_bounded(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    scripted.redirect_to = scripted.url("/redirect")  # a loop
    allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
    with pytest.raises(EgressLimit, match="more than 5 redirects"):
        make_client().request("GET", scripted.url("/redirect"), allow=allow, deadline=soon())
    assert len(scripted.requests) == 6


def test_credentials_do_not_follow_a_redirect_to_another_origin(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    other = ScriptedHttp()
    try:
        scripted.redirect_to = other.url("/echo")
        allow = AllowList.parse([f"127.0.0.1:{scripted.port}", f"127.0.0.1:{other.port}"])
        headers = {"Authorization": "Bearer secret", "Cookie": "s=1", "X-Trace": "kept"}
        answer = make_client().request(
            "GET", scripted.url("/redirect"), allow=allow, deadline=soon(), headers=headers
        )
        assert answer.status == 200
        assert scripted.headers[0]["authorization"] == "Bearer secret"
        assert "authorization" not in other.headers[0]
        assert "cookie" not in other.headers[0]
        assert other.headers[0]["x-trace"] == "kept"
    finally:
        other.stop()


def test_a_303_turns_a_post_into_a_get_without_its_body(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    scripted.redirect_to = scripted.url("/echo")
    allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
    answer = make_client().request(
        "POST", scripted.url("/redirect"), allow=allow, deadline=soon(), body=b"payload"
    )
    assert answer.status == 200
    assert scripted.requests[-1] == ("/echo", b"")
    assert b'"method": "GET"' in answer.body


def test_a_slow_trickle_is_cut_off_at_the_deadline(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
    started = time.monotonic()
    with pytest.raises(EgressTimeout):
        make_client().request("GET", scripted.url("/trickle"), allow=allow, deadline=started + 1)
    assert time.monotonic() - started < 4  # generous: the machine is loaded


def test_a_resolver_that_never_answers_is_cut_off_at_the_deadline(
    make_client: Callable[..., EgressClient],
) -> None:
    release = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        release.wait(30)
        return ["93.184.215.14"]

    client = EgressClient(resolver=stuck)
    started = time.monotonic()
    try:
        with pytest.raises(EgressTimeout, match="did not resolve in time"):
            client.request(
                "GET",
                "http://slow.test/",
                allow=AllowList.parse(["slow.test"]),
                deadline=started + 1,
            )
        assert time.monotonic() - started < 4
    finally:
        release.set()
        client.close()


def test_an_answer_without_a_declared_length_is_capped_while_it_streams(
    make_client: Callable[..., EgressClient], scripted: ScriptedHttp
) -> None:
    allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
    with pytest.raises(EgressLimit, match="over 100000 bytes"):
        make_client().request(
            "GET",
            scripted.url("/stream/5000000"),
            allow=allow,
            deadline=soon(),
            max_response=100000,
        )


def test_a_name_that_does_not_resolve_is_unavailable(
    make_client: Callable[..., EgressClient],
) -> None:
    with pytest.raises(EgressUnavailable, match=r"cannot resolve nothing\.invalid"):
        make_client().request(
            "GET",
            "http://nothing.invalid/",
            allow=AllowList.parse(["nothing.invalid"]),
            deadline=soon(),
        )


@pytest.mark.parametrize(
    "url",
    [
        "http://allowed.test\\@127.0.0.1/",  # a backslash parsers disagree about
        "http://allowed.test /x",
        "http://allowed.test/\x00",
        "http://user@allowed.test/",
    ],
)
def test_urls_that_parsers_read_differently_are_refused(
    make_client: Callable[..., EgressClient], url: str
) -> None:
    with pytest.raises(EgressDenied):
        make_client().request("GET", url, allow=AllowList.parse(["allowed.test"]), deadline=soon())


# -- TLS: the socket goes to the pinned address, the certificate is checked against the name --


def _certificate_authority(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``name``: (CA file, certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pyjinn test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


class TlsServer:
    """An HTTPS server on a random loopback port with the given certificate; it answers 200
    with the SNI name the client sent."""

    def __init__(self, certificate: Path, key: Path) -> None:
        seen: list[str | None] = []
        self.seen = seen

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                data = f"sni={seen[-1] if seen else None}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        context.sni_callback = lambda sock, name, ctx: seen.append(name)  # type: ignore[assignment]
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return _certificate_authority(tmp_path, "api.tls.test")


def test_tls_is_verified_against_the_name_while_the_socket_goes_to_the_pinned_address(
    make_client: Callable[..., EgressClient], tls_files: tuple[Path, Path, Path]
) -> None:
    ca, certificate, key = tls_files
    server = TlsServer(certificate, key)
    try:
        context = ssl.create_default_context(cafile=str(ca))
        client = make_client(Names(api_tls_test=["127.0.0.1"]), ssl_context=context)
        allow = AllowList.parse([f"api.tls.test:{server.port}", f"127.0.0.1:{server.port}"])
        answer = client.request(
            "GET", f"https://api.tls.test:{server.port}/", allow=allow, deadline=soon()
        )
        assert answer.status == 200
        assert answer.body == b"sni=api.tls.test"
    finally:
        server.stop()


def test_a_certificate_for_another_name_is_refused(
    make_client: Callable[..., EgressClient], tls_files: tuple[Path, Path, Path]
) -> None:
    ca, certificate, key = tls_files
    server = TlsServer(certificate, key)
    try:
        context = ssl.create_default_context(cafile=str(ca))
        client = make_client(Names(other_tls_test=["127.0.0.1"]), ssl_context=context)
        allow = AllowList.parse([f"other.tls.test:{server.port}", f"127.0.0.1:{server.port}"])
        with pytest.raises(EgressUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            client.request(
                "GET", f"https://other.tls.test:{server.port}/", allow=allow, deadline=soon()
            )
    finally:
        server.stop()
