"""Idempotency-Key under a race, on SQLite and PostgreSQL: two requests with one key running
at once make one change, and both answer it (the kept answer's unique index decides)."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

import storage.leads
from bot.web.api.http import Api, Call, Operation
from bot.web.api.keys import Caller, create
from storage.engine import Store
from storage.models import Lead


@dataclass
class FakeUrl:
    path: str = "/api/v1/leads"


@dataclass
class FakeRequest:
    """What the idempotency step reads of a request: its headers and path."""

    headers: dict[str, str]
    url: FakeUrl = field(default_factory=FakeUrl)


def test_two_racing_requests_with_one_key_make_one_change(store: Store) -> None:
    with store.transaction() as session:
        key, _ = create(session, f"race-{uuid.uuid4().hex[:6]}", ["leads:write"])
        assert key.id is not None
        caller = Caller(key.id, key.name, frozenset(key.scopes), 0)
    api = Api(store, rate_per_minute=100, max_body_bytes=1000)
    made: list[int] = []

    def handler(session: Session, call: Call) -> tuple[int, Any]:
        # An address of its own per call: the Idempotency-Key, not the one-lead-per-address
        # index, must be what makes the second request a replay.
        lead = storage.leads.add(session, Lead(email=f"race-{uuid.uuid4().hex[:8]}@once.test",
                                               reply_token=uuid.uuid4().hex))  # fmt: skip
        assert lead.id is not None
        made.append(lead.id)
        time.sleep(0.3)  # hold the transaction open: the other request runs meanwhile
        return 201, {"lead": lead.id}

    operation = Operation("leads:write", handler)
    request = FakeRequest({"idempotency-key": "same-key"})
    answers: list[tuple[int, Any, bool]] = []
    start = threading.Barrier(2)

    def send() -> None:
        start.wait()
        answers.append(api._idempotent(operation, Call(caller, {}, {}, {}), request, b"{}"))  # type: ignore[arg-type]

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.reading() as session:
        kept = [lead_id for lead_id in made if session.get(Lead, lead_id) is not None]
    assert len(kept) == 1, f"two changes: {kept}"
    assert sorted(replayed for _, _, replayed in answers) == [False, True]
    assert {status for status, _, _ in answers} == {201}
    assert {body["lead"] for _, body, _ in answers} == set(kept)
    if not store.is_sqlite:  # both changes ran at once; the loser's rolled back with its insert
        assert len(made) == 2
