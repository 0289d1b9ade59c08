"""Fixtures for signing tests: a small module, and keys made on demand."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import wasmtime

from pyjinn.signing import SigningKey
from tests.helpers import HELLO, wat_writing


@pytest.fixture(scope="session")
def hello_wasm() -> bytes:
    """A small WASI command module that answers ``HELLO``."""
    return bytes(wasmtime.wat2wasm(wat_writing(HELLO)))


@pytest.fixture
def new_key() -> Callable[[], SigningKey]:
    """Make a fresh Ed25519 key (so no two tests share a verdict cache entry)."""
    return SigningKey.generate
