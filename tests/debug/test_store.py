"""The crash directory: retention by count and size, modules kept once, finding records."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyjinn.debug.record import CrashRecord, RecordError
from pyjinn.debug.store import CrashStore


def record(record_id: str, digest: str, payload: bytes = b"") -> CrashRecord:
    document = {
        "format": "pyjinn-crash-record",
        "version": 1,
        "id": record_id,
        "module": {"sha256": digest},
        "outcome": {"kind": "trap", "status": 502, "backtrace": []},
    }
    return CrashRecord(document, {"stdin": payload})


A, B = "a" * 64, "b" * 64


def test_retention_by_count_deletes_the_oldest_records(tmp_path: Path) -> None:
    store = CrashStore(tmp_path / "crashes", max_records=3)
    for second in range(5):
        store.save(record(f"20260101T00000{second}.000Z-fn-000000", A), b"module a")
    assert [stored.id[:16] for stored in store.records()] == [
        "20260101T000002.",
        "20260101T000003.",
        "20260101T000004.",
    ]


def test_retention_by_size_deletes_the_oldest_records_and_their_unused_modules(
    tmp_path: Path,
) -> None:
    store = CrashStore(tmp_path / "crashes", max_records=100, max_bytes=60_000)
    import os  # random stdin: records that do not compress below the budget

    store.save(record("20260101T000001.000Z-fn-000001", A, os.urandom(25_000)), b"module a")
    store.save(record("20260101T000002.000Z-fn-000002", B, os.urandom(25_000)), b"module b")
    assert store.module(A) == b"module a"
    store.save(record("20260101T000003.000Z-fn-000003", B, os.urandom(25_000)), b"module b")
    assert [stored.id[-6:] for stored in store.records()] == ["000002", "000003"]
    assert store.module(A) is None  # no record ran it any more
    assert store.module(B) == b"module b"


def test_a_module_is_stored_once_whatever_the_number_of_records(tmp_path: Path) -> None:
    store = CrashStore(tmp_path / "crashes")
    for second in range(3):
        store.save(record(f"20260101T00000{second}.000Z-fn-000000", A), b"module a")
    assert [path.name for path in (tmp_path / "crashes" / "modules").iterdir()] == [f"{A}.wasm"]


def test_records_are_found_by_id_or_unique_prefix(tmp_path: Path) -> None:
    store = CrashStore(tmp_path / "crashes")
    store.save(record("20260101T000001.000Z-fn-000001", A), None)
    store.save(record("20260101T000002.000Z-fn-000002", A), None)
    assert store.load("20260101T000002").id.endswith("000002")
    with pytest.raises(RecordError, match="matches 2 records"):
        store.find("2026")
    with pytest.raises(RecordError, match="no crash record 'nope'"):
        store.find("nope")


def test_a_file_that_is_not_a_record_says_so(tmp_path: Path) -> None:
    path = tmp_path / "x.record"
    path.write_bytes(b"not a zip")
    with pytest.raises(RecordError, match="not a pyjinn crash record"):
        CrashRecord.load(path)
