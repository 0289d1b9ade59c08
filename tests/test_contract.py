"""The function contract: the JSON a guest reads on stdin and the JSON it must write on stdout."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyjinn import contract
from pyjinn.errors import Blame, GuestError, GuestFault


def encoded(
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    query_string: bytes = b"",
    body: bytes = b"",
) -> dict[str, object]:
    """The stdin document for a request, parsed back from JSON."""
    document = contract.encode_request(
        method="POST",
        uri="/items?x=1",
        path="/items",
        query_string=query_string,
        headers=headers or [],
        body=body,
        remote_addr="203.0.113.7:4711",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    )
    parsed = json.loads(document)
    assert isinstance(parsed, dict)
    return parsed


def invalid_output(stdout: bytes | str) -> GuestError:
    """The error ``decode_response`` raises for ``stdout``, checked to be invalid output."""
    raw = stdout.encode() if isinstance(stdout, str) else stdout
    with pytest.raises(GuestError) as raised:
        contract.decode_response(raw)
    error = raised.value
    assert error.fault is GuestFault.INVALID_OUTPUT
    assert error.status == 502
    assert error.blame is Blame.GUEST
    assert error.client_message == "function returned an invalid response"
    return error


def answer(**fields: object) -> bytes:
    return json.dumps(fields).encode()


# Request encoding


def test_request_document_has_exactly_the_contract_keys_for_a_utf8_body() -> None:
    document = encoded(body=b"hi")
    assert document == {
        "method": "POST",
        "uri": "/items?x=1",
        "path": "/items",
        "query": {},
        "headers": {},
        "body": "hi",
        "remote_addr": "203.0.113.7:4711",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (b"content-type", "Content-Type"),
        (b"CONTENT-TYPE", "Content-Type"),
        (b"x-REQUEST-id", "X-Request-Id"),
        (b"www-authenticate", "Www-Authenticate"),
        (b"x_custom_name", "X_custom_name"),
        (b"a--b", "A--B"),
        (b"-leading", "-Leading"),
        (b"trailing-", "Trailing-"),
        (b"1st-header", "1st-Header"),
        (b"dnt", "Dnt"),
    ],
)
def test_header_names_reach_the_guest_in_go_canonical_form(raw: bytes, canonical: str) -> None:
    assert contract.canonical_header_name(raw) == canonical
    assert encoded(headers=[(raw, b"v")])["headers"] == {canonical: ["v"]}


@pytest.mark.parametrize("raw", [b"bad header", b"x:y", b"caf\xe9", b"with\tTab"])
def test_header_names_that_are_not_tokens_are_left_as_they_are(raw: bytes) -> None:
    # Go leaves a name it cannot canonicalise untouched rather than guessing.
    assert contract.canonical_header_name(raw) == raw.decode("latin-1")


def test_repeated_headers_are_grouped_in_order_whatever_their_case() -> None:
    headers = [
        (b"accept", b"text/html"),
        (b"x-one", b"1"),
        (b"Accept", b"application/json"),
        (b"ACCEPT", b"*/*"),
    ]
    assert encoded(headers=headers)["headers"] == {
        "Accept": ["text/html", "application/json", "*/*"],
        "X-One": ["1"],
    }


def test_header_values_are_passed_byte_for_byte_as_latin1() -> None:
    # Latin-1 maps every byte to one character, so a guest echoing a value sends the same bytes.
    headers = encoded(headers=[(b"x-name", b"caf\xe9 \xff")])["headers"]
    assert headers == {"X-Name": ["caf\u00e9 \u00ff"]}


def test_query_is_parsed_into_lists_with_repeated_keys_and_blank_values() -> None:
    query = encoded(query_string=b"a=1&a=2&blank=&bare&q=hello%20world+x&e=%C3%A9")["query"]
    assert query == {
        "a": ["1", "2"],
        "blank": [""],
        "bare": [""],
        "q": ["hello world x"],
        "e": ["\u00e9"],
    }


def test_an_empty_query_string_is_an_empty_object() -> None:
    assert encoded(query_string=b"")["query"] == {}


def test_raw_utf8_in_the_query_decodes_like_its_percent_encoded_form() -> None:
    # Clients such as curl send non-ASCII query bytes unencoded; the guest must see the same text
    # either way, not mojibake.
    raw = encoded(query_string="name=\u00e9t\u00e9&city=Z\u00fcrich".encode())["query"]
    escaped = encoded(query_string=b"name=%C3%A9t%C3%A9&city=Z%C3%BCrich")["query"]
    assert raw == escaped == {"name": ["\u00e9t\u00e9"], "city": ["Z\u00fcrich"]}


def test_invalid_utf8_in_the_query_becomes_replacement_characters() -> None:
    assert encoded(query_string=b"a=%ff&b=\xff")["query"] == {"a": ["\ufffd"], "b": ["\ufffd"]}


def test_utf8_body_travels_as_text_without_body_encoding() -> None:
    document = encoded(body="gr\u00fc\u00df dich \u2603".encode())
    assert document["body"] == "gr\u00fc\u00df dich \u2603"
    assert "body_encoding" not in document


def test_non_utf8_body_travels_as_base64_with_body_encoding() -> None:
    body = bytes(range(256))
    document = encoded(body=body)
    assert document["body_encoding"] == "base64"
    assert isinstance(document["body"], str)
    assert base64.b64decode(document["body"]) == body
    assert set(document) == {
        "method",
        "uri",
        "path",
        "query",
        "headers",
        "body",
        "body_encoding",
        "remote_addr",
        "trace_id",
    }


def test_request_document_is_compact_utf8_json() -> None:
    document = contract.encode_request(
        method="GET",
        uri="/",
        path="/",
        query_string=b"",
        headers=[],
        body="\u00e9".encode(),
        remote_addr="",
        trace_id="t",
    )
    assert "\u00e9".encode() in document  # not \u00e9 escapes
    assert b", " not in document and b": " not in document


# Trace ids

VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_gives_its_trace_id() -> None:
    assert contract.trace_id_from(VALID_TRACEPARENT) == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_surrounding_whitespace_in_traceparent_is_ignored() -> None:
    assert contract.trace_id_from(f"  {VALID_TRACEPARENT} ") == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "traceparent",
    [
        None,
        "",
        "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # uppercase is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # trace id too short
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # flags missing
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        VALID_TRACEPARENT + "-extra",
    ],
)
def test_a_missing_or_malformed_traceparent_gives_fresh_random_trace_ids(
    traceparent: str | None,
) -> None:
    first = contract.trace_id_from(traceparent)
    second = contract.trace_id_from(traceparent)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second
    assert first != "4bf92f3577b34da6a3ce929d0e0e4736"


# Response decoding


def test_a_full_answer_decodes_to_status_headers_and_body() -> None:
    response = contract.decode_response(
        answer(status=201, headers={"Content-Type": ["text/plain"], "X-Id": "7"}, body="made")
    )
    assert response == contract.Response(
        status=201,
        headers=[(b"content-type", b"text/plain"), (b"x-id", b"7")],
        body=b"made",
    )


@pytest.mark.parametrize("stdout", ["{}", '{"status":0}', '{"status":null}'])
def test_a_missing_or_zero_status_means_200(stdout: str) -> None:
    response = contract.decode_response(stdout.encode())
    assert response.status == 200
    assert response.headers == []
    assert response.body == b""


@pytest.mark.parametrize("status", [200, 204, 302, 404, 599])
def test_statuses_from_200_to_599_are_kept(status: int) -> None:
    assert contract.decode_response(answer(status=status)).status == status


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (100, "100"),
        (199, "199"),
        (600, "600"),
        (-1, "-1"),
        ("200", "'200'"),
        (200.0, "200.0"),
        (0.0, "0.0"),
        (True, "True"),
        (False, "False"),
        ([200], "[200]"),
        ({"code": 200}, "{'code': 200}"),
    ],
)
def test_an_invalid_status_is_invalid_output_naming_the_value(status: object, shown: str) -> None:
    error = invalid_output(answer(status=status))
    assert error.detail == (f"guest output has status {shown}; expected an integer from 200 to 599")


def test_a_header_value_may_be_a_list_or_a_single_string() -> None:
    response = contract.decode_response(
        answer(headers={"Set-Cookie": ["a=1", "b=2"], "Cache-Control": "no-store", "X-None": []})
    )
    assert response.headers == [
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"cache-control", b"no-store"),
    ]


def test_headers_null_means_no_headers() -> None:
    assert contract.decode_response(b'{"headers":null}').headers == []


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (["Content-Type", "text/plain"], "has headers of type list; expected an object"),
        ("Content-Type: text/plain", "has headers of type str; expected an object"),
        ({"X-Count": 3}, "has header 'X-Count' with a value that is not a string"),
        ({"X-List": ["a", 1]}, "has header 'X-List' with a value that is not a string"),
        ({"X-Null": None}, "has header 'X-Null' with a value that is not a string"),
    ],
)
def test_headers_of_the_wrong_shape_are_invalid_output(headers: object, problem: str) -> None:
    assert problem in invalid_output(answer(headers=headers)).detail


@pytest.mark.parametrize("name", ["", "Bad Header", "X:Y", "X-\u00e9t\u00e9", "X-\u2603", "A\nB"])
def test_an_invalid_header_name_is_invalid_output(name: str) -> None:
    detail = invalid_output(answer(headers={name: "v"})).detail
    assert detail == f"guest output has an invalid header name {name!r}"


@pytest.mark.parametrize(
    "value",
    [
        "a\r\nSet-Cookie: stolen=1",
        "line\nbreak",
        "carriage\rreturn",
        "nul\0byte",
        "escape\x1b[31m",
        "bell\x07",
        "delete\x7f",
    ],
)
def test_a_control_character_in_a_header_value_is_rejected(value: str) -> None:
    # CR and LF would let a guest inject headers; any other control character is refused by
    # the HTTP server when sending, which must not turn into a host error.
    detail = invalid_output(answer(headers={"X-Evil": [value]})).detail
    assert detail == (
        "guest output has header 'X-Evil' with a control character (such as a line break or NUL) "
        "in its value; only tab is allowed"
    )


def test_a_tab_in_a_header_value_is_allowed() -> None:
    response = contract.decode_response(answer(headers={"X-Tab": "a\tb"}))
    assert response.headers == [(b"x-tab", b"a\tb")]


def test_a_control_character_in_any_value_of_a_list_is_rejected() -> None:
    detail = invalid_output(answer(headers={"X-Ok": ["fine", "bad\r\n"]})).detail
    assert "'X-Ok'" in detail and "control character" in detail


def test_latin1_header_values_are_sent_as_latin1_bytes() -> None:
    response = contract.decode_response(answer(headers={"X-Name": "caf\u00e9"}))
    assert response.headers == [(b"x-name", b"caf\xe9")]


def test_a_header_value_outside_latin1_is_invalid_output() -> None:
    detail = invalid_output(answer(headers={"X-Snow": "\u2603"})).detail
    assert detail == "guest output has header 'X-Snow' with non-Latin-1 characters"


@pytest.mark.parametrize(
    "name", ["Content-Length", "content-length", "Transfer-Encoding", "CONNECTION"]
)
def test_framing_headers_from_the_guest_are_dropped(name: str) -> None:
    response = contract.decode_response(
        answer(headers={name: "999", "X-Kept": "yes"}, body="short")
    )
    assert response.headers == [(b"x-kept", b"yes")]
    assert response.body == b"short"


def test_body_null_is_empty() -> None:
    assert contract.decode_response(b'{"body":null}').body == b""


def test_a_text_body_is_sent_as_utf8() -> None:
    assert contract.decode_response(answer(body="\u00e9\u2603")).body == "\u00e9\u2603".encode()


def test_a_base64_body_round_trips_every_byte_value() -> None:
    body = bytes(range(256))
    text, is_base64 = contract.encode_body(body)
    assert is_base64
    response = contract.decode_response(answer(body=text, body_encoding="base64"))
    assert response.body == body


def test_an_empty_body_encoding_means_text() -> None:
    assert contract.decode_response(answer(body="plain", body_encoding="")).body == b"plain"


@pytest.mark.parametrize("body", ["not base64!", "abc", "YWJj\n===="])
def test_invalid_base64_is_invalid_output(body: str) -> None:
    detail = invalid_output(answer(body=body, body_encoding="base64")).detail
    assert detail == "guest output has body_encoding base64 but the body is not valid base64"


@pytest.mark.parametrize(
    ("encoding", "shown"), [("gzip", "'gzip'"), ("BASE64", "'BASE64'"), (1, "1")]
)
def test_an_unknown_body_encoding_is_invalid_output(encoding: object, shown: str) -> None:
    detail = invalid_output(answer(body="x", body_encoding=encoding)).detail
    assert detail == f'guest output has body_encoding {shown}; expected "base64" or none'


@pytest.mark.parametrize(
    ("body", "kind"), [(42, "int"), (["a"], "list"), ({"a": 1}, "dict"), (True, "bool")]
)
def test_a_body_that_is_not_a_string_is_invalid_output(body: object, kind: str) -> None:
    detail = invalid_output(answer(body=body)).detail
    assert detail == f"guest output has a body of type {kind}; expected a string"


@pytest.mark.parametrize("stdout", [b"", b"   \n\t"])
def test_empty_stdout_is_invalid_output(stdout: bytes) -> None:
    detail = invalid_output(stdout).detail
    assert detail == "guest output is empty: a function must write one JSON object to stdout"


@pytest.mark.parametrize(
    "stdout", [b"hello world", b'{"status": 200', b"\xff\xfe{}", b'{"a":1} trailing']
)
def test_stdout_that_is_not_json_is_invalid_output_showing_its_start(stdout: bytes) -> None:
    detail = invalid_output(stdout).detail
    assert detail.startswith("guest output is not valid JSON (")
    assert repr(stdout[:80].decode("utf-8", "replace")) in detail


def test_only_the_first_80_bytes_of_junk_are_shown() -> None:
    detail = invalid_output(b"x" * 500).detail
    assert repr("x" * 80) in detail
    assert "x" * 81 not in detail


@pytest.mark.parametrize(
    ("stdout", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("42", "int"), ("null", "NoneType")]
)
def test_a_json_document_that_is_not_an_object_is_invalid_output(stdout: str, kind: str) -> None:
    detail = invalid_output(stdout).detail
    assert detail == f"guest output must be a JSON object, got {kind}"


def test_an_unpaired_surrogate_in_the_body_is_invalid_output() -> None:
    detail = invalid_output(b'{"body":"broken \\ud800 half"}').detail
    assert detail == "guest output has a body with unpaired UTF-16 surrogates"


def test_a_surrogate_pair_in_the_body_is_one_character() -> None:
    response = contract.decode_response(b'{"body":"\\ud83d\\ude00"}')
    assert response.body == "\U0001f600".encode()


# Hop-by-hop, Date and Server headers


@pytest.mark.parametrize(
    "name",
    [
        "Connection",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "Trailer",
        "Proxy-Connection",
        "Transfer-Encoding",
        "keep-alive",
        "UPGRADE",
    ],
)
def test_hop_by_hop_headers_from_the_guest_are_dropped(name: str) -> None:
    # They describe one connection, and the server owns the connection to the client.
    response = contract.decode_response(answer(headers={name: "x", "X-Kept": "yes"}))
    assert response.headers == [(b"x-kept", b"yes")]


def test_a_date_from_the_guest_is_dropped_because_the_server_sends_its_own() -> None:
    response = contract.decode_response(
        answer(headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT", "X-Kept": "yes"})
    )
    assert response.headers == [(b"x-kept", b"yes")]


def test_only_the_first_server_value_from_the_guest_is_sent() -> None:
    response = contract.decode_response(
        answer(headers={"Server": ["first", "second"], "server": "third"})
    )
    assert response.headers == [(b"server", b"first")]


# Caps on response headers


def test_a_response_may_carry_100_header_lines() -> None:
    headers = {f"X-H{index}": "v" for index in range(99)} | {"X-List": ["a"]}
    assert len(contract.decode_response(answer(headers=headers)).headers) == 100


@pytest.mark.parametrize(
    "headers",
    [
        {f"X-H{index}": "v" for index in range(101)},
        {"Set-Cookie": [f"c{index}=1" for index in range(101)]},
        {"X-A": ["1"] * 60, "X-B": ["2"] * 41},
    ],
    ids=["names", "values", "mixed"],
)
def test_more_than_100_header_lines_is_invalid_output(headers: dict[str, object]) -> None:
    detail = invalid_output(answer(headers=headers)).detail
    assert detail == "guest output has more than 100 headers (the most a response may carry)"


def test_headers_of_64_kib_in_total_are_allowed() -> None:
    # Each line counts its name and value; two lines: "x-a" + value, "x-b" + value.
    first = "a" * (32 * 1024 - 3)
    second = "b" * (32 * 1024 - 3)
    response = contract.decode_response(answer(headers={"X-A": first, "X-B": second}))
    assert sum(len(name) + len(value) for name, value in response.headers) == 64 * 1024


def test_headers_over_64_kib_in_total_are_invalid_output() -> None:
    detail = invalid_output(answer(headers={"X-A": "a" * (64 * 1024 - 3), "X-B": "b"})).detail
    assert detail == (
        "guest output has headers of more than 65536 bytes in total (names and values; "
        "the most a response may carry)"
    )


def test_one_huge_header_value_is_invalid_output() -> None:
    detail = invalid_output(answer(headers={"X-Huge": "h" * 100_000})).detail
    assert "more than 65536 bytes" in detail


# Nesting depth and anything else the JSON decoder may raise


@pytest.mark.parametrize(
    "stdout",
    [
        b'{"a":' * 50_000,
        b"[" * 5_000 + b"]" * 5_000,
        b'{"status":200,"extra":' + b"[" * 65 + b"]" * 65 + b"}",
        b'{"status":200,"extra":' + b"[" * 3_000 + b"1" + b"]" * 3_000 + b"}",
    ],
    ids=["open-members", "closed", "65-levels", "3000-levels"],
)
def test_json_nested_deeper_than_64_levels_is_invalid_output(stdout: bytes) -> None:
    detail = invalid_output(stdout).detail
    assert detail == "guest output nests arrays and objects more than 64 levels deep"


def test_json_nested_64_levels_deep_decodes() -> None:
    # The object itself is level 1; "extra" holds 63 more.
    stdout = b'{"status":201,"extra":' + b"[" * 63 + b"]" * 63 + b"}"
    assert contract.decode_response(stdout).status == 201


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    body = json.dumps([[[[[[{"deep": [[["ok"]]]}]]]]]] * 50)
    response = contract.decode_response(answer(status=200, body=body))
    assert response.body == body.encode()


@pytest.mark.parametrize("stdout", [b"[" * 100_000, b"{" * 100_000, b'{"a":[' * 50_000])
def test_a_deep_unterminated_document_is_invalid_output(stdout: bytes) -> None:
    # Too deep or not JSON, whichever the decoder meets first: never a RecursionError.
    assert invalid_output(stdout).detail.startswith("guest output ")


def test_an_integer_too_long_to_convert_is_invalid_output() -> None:
    # Python refuses to convert integers of more than 4300 digits with a ValueError that is not
    # a JSONDecodeError.
    detail = invalid_output(b'{"status":' + b"9" * 5_000 + b"}").detail
    assert detail.startswith("guest output could not be decoded (ValueError: ")


# Fuzzing: whatever a guest writes, decoding answers a Response or the contract's own error

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = st.sampled_from(["status", "headers", "body", "body_encoding", "extra"])
# JSON fragments that broke or nearly broke decoding: deep nesting, huge integers, lone
# surrogates, control characters, a BOM, NaN, and the right keys with the wrong shapes.
NASTY_FRAGMENTS = (
    "[" * 3000,
    "{" * 3000,
    '{"a":' * 2000,
    "9" * 5000,
    "1e99999",
    "-0",
    "NaN",
    "Infinity",
    '"\\ud800"',
    '"\\u0000"',
    '"\\r\\n"',
    "\ufeff",
    '{"status":200,"headers":{"X":"a\\r\\nB: c"}}',
    '{"headers":{"Connection":["close"]}}',
    '{"body":"x","body_encoding":"base64"}',
    '{"body":"\\ud83d","body_encoding":""}',
)
_FRAGMENT_TEXT = st.sampled_from(NASTY_FRAGMENTS)
_MEMBER_TEXT = st.one_of(_JSON_VALUES.map(json.dumps), _FRAGMENT_TEXT)


def _object_text(members: dict[str, str]) -> bytes:
    text = "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in members.items()) + "}"
    return text.encode("utf-8", "surrogatepass")


def _spliced_text(pieces: list[str]) -> bytes:
    return "".join(pieces).encode("utf-8", "surrogatepass")


ANSWERS = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(_FIELDS, _MEMBER_TEXT, max_size=5).map(_object_text),
    st.lists(st.one_of(_FRAGMENT_TEXT, st.text(max_size=20)), max_size=6).map(_spliced_text),
)


@settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ANSWERS)
def test_decoding_any_output_returns_a_response_or_raises_the_contracts_error(
    stdout: bytes,
) -> None:
    try:
        response = contract.decode_response(stdout)
    except GuestError as error:
        assert error.fault is GuestFault.INVALID_OUTPUT
        assert error.blame is Blame.GUEST
        assert error.status == 502
    else:
        assert isinstance(response, contract.Response)
        assert 200 <= response.status <= 599
        assert len(response.headers) <= 100
