"""Jobs as stored: ids, the message a stream holds, records and results."""

from __future__ import annotations

import pytest

from pyjinn.invocation import Envelope
from pyjinn.jobs import (
    MAX_RESULT_BODY,
    JobMessage,
    JobRecord,
    internal_envelope,
    jobs_subject,
    new_job_id,
    result_of,
)


def test_job_ids_are_unique_and_ordered_by_creation() -> None:
    ids = [new_job_id("acme", "report", None) for _ in range(20_000)]
    assert len(set(ids)) == len(ids)  # Gojinn's UnixNano ids collided and were deduplicated
    assert all(len(job_id) == 32 for job_id in ids)
    assert ids == sorted(ids)  # strictly increasing within a process, even in one millisecond


def test_an_idempotency_key_gives_the_same_id_per_tenant_and_function() -> None:
    first = new_job_id("acme", "report", "order-7")
    assert new_job_id("acme", "report", "order-7") == first
    assert new_job_id("other", "report", "order-7") != first
    assert new_job_id("acme", "invoice", "order-7") != first


def test_a_job_message_round_trips_with_binary_bodies_and_headers() -> None:
    envelope = Envelope(
        method="POST",
        uri="/x?a=1",
        path="/x",
        query_string=b"a=1",
        headers=((b"content-type", b"application/octet-stream"), (b"x-y", b"\xff")),
        body=bytes(range(256)),
        remote_addr="203.0.113.7:5000",
    )
    message = JobMessage(
        "id", "fn.v1", "acme", 12.5, envelope, "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )
    assert JobMessage.decode(message.encode()) == message


@pytest.mark.parametrize("data", [b"", b"{}", b'{"job_id": 1}', b"\xff\xfe", b"[]"])
def test_anything_else_is_not_a_job(data: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        JobMessage.decode(data)


def test_function_names_with_dots_stay_one_subject_token() -> None:
    assert jobs_subject("acme", "v1.report") == "pyjinn.jobs.acme.v1%2Ereport"


def test_an_internal_job_looks_like_gojinn_s_async_envelope() -> None:
    envelope = internal_envelope(b"payload")
    assert (envelope.method, envelope.uri) == ("ASYNC", "internal://async/job")
    assert envelope.headers == ((b"x-source", b"internal"),)


def test_results_are_bounded_and_binary_bodies_travel_as_base64() -> None:
    big = result_of(200, [(b"content-type", b"text/plain")], b"x" * (MAX_RESULT_BODY + 10))
    assert big["truncated"] is True and len(big["body"]) == MAX_RESULT_BODY
    binary = result_of(201, [], b"\xff\x00")
    assert binary == {"status": 201, "headers": {}, "body": "/wA=", "body_encoding": "base64"}


def test_a_record_s_public_form_hides_where_it_lies() -> None:
    record = JobRecord("id", "fn", "acme", "dead", 1.0, attempts=5, dead_sequence=9)
    assert JobRecord.from_json(record.to_json()) == record
    assert "dead_sequence" not in record.public()
