"""Secrets are overwritten where they occur, and a replay puts them back where they were."""

from __future__ import annotations

import pytest

from pyjinn.debug.secrets import Secrets, Span, restore


def test_every_occurrence_is_overwritten_with_as_many_stars() -> None:
    secrets = Secrets([("TOKEN", "s3cret"), ("EMPTY", "")])
    data, spans = secrets.redact(b"a s3cret and s3cret.")
    assert data == b"a ****** and ******."
    assert spans == (Span(2, 6, "TOKEN"), Span(13, 6, "TOKEN"))
    assert restore(data, spans, {"TOKEN": b"s3cret"}) == b"a s3cret and s3cret."


def test_a_secret_containing_another_is_taken_out_whole() -> None:
    secrets = Secrets([("SHORT", "abc"), ("LONG", "xxabcxx")])
    data, spans = secrets.redact(b"-xxabcxx-abc")
    assert data == b"-*******-***"
    assert {span.name for span in spans} == {"SHORT", "LONG"}


def test_text_is_redacted_by_its_utf8_bytes() -> None:
    text, spans = Secrets([("K", "clé")]).redact_text("la clé!")
    assert text == "la ****!"
    assert spans == (Span(3, 4, "K"),)


def test_a_restored_value_must_have_the_recorded_length() -> None:
    with pytest.raises(ValueError, match="TOKEN has 3 bytes, but the recorded value had 6"):
        restore(b"******", (Span(0, 6, "TOKEN"),), {"TOKEN": b"abc"})
