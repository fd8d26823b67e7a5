"""Fixtures for the transport tests: one real Dovecot for the session, emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.dovecot import DovecotServer, dovecot_server


@pytest.fixture(scope="session")
def dovecot_service() -> Iterator[DovecotServer]:
    with dovecot_server() as server:
        yield server


@pytest.fixture
def dovecot(dovecot_service: DovecotServer) -> DovecotServer:
    """The session's Dovecot with an empty INBOX and no other folder."""
    dovecot_service.reset()
    return dovecot_service
