"""Export and erase on a real store (SQLite file and PostgreSQL): the bundle holds everything,
the erase leaves tombstones that keep the numbers, suppresses the address for every door but a
mail from the person, and writes the append-only privacy log."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

import storage.leads
import storage.outbox
import storage.privacy
import storage.timeline
import storage.webhooks
from bot.dedupe.merging import merge
from bot.leads.capture import Draft, Evidence, Source, capture
from bot.privacy import erase, export
from bot.privacy.subject import NotFound, resolve
from bot.rules.file import default_rules
from storage.api_tables import WebhookEndpoint
from storage.engine import Store
from storage.models import LeadBlockKey, PrivacyLogEntry, SuppressedAddress

FORM = Source("form", "form:contact", "the form contact")
API = Source("api", "api:key-1", "the API")
IMPORT = Source("import", "import:brokers.csv", "the import brokers.csv")
MAIL = Source("email", "email:zq-mail@zq-acme.test", "email")
MARKS = {name: f"zq{name.replace('_', '')}mark" for name in (
    "first_name", "last_name", "company", "title", "website", "street", "city", "state",
    "postal_code", "country", "language", "industry", "company_size")}  # fmt: skip
MARKS["phone"] = "+44 20 7946 0718"
ADDRESS = "zq-mail@zq-acme.test"


def take(session: Session, source: Source = FORM, address: str = ADDRESS, dedupe: bool = True,
         **values: str):  # type: ignore[no-untyped-def]  # fmt: skip
    draft = Draft.of(address, enquiry="zqenquirymark please", **values)
    evidence = Evidence("form.post", "zqtitlemark", {"fields": {"note": "zqnotemark"}})
    return capture(session, draft, source, evidence, rules=default_rules(), dedupe=dedupe)


def everything(session: Session) -> str:
    return json.dumps(export.bundle(session, resolve(session, ADDRESS)), default=str)


def test_export_then_erase_leaves_a_tombstone_and_suppresses_the_address(keyed: Store) -> None:
    with keyed.transaction() as session:
        lead = take(session, **MARKS).lead
        assert lead is not None and lead.id is not None
        lead.status, lead.stage = "working", "mql"
        session.add(lead)
        # a second record of the same person, merged into the first
        other = take(session, address="zq.mail@zq-acme.test", first_name="zqaliasmark",
                     dedupe=False).lead  # fmt: skip
        assert other is not None and other.id is not None and other.id != lead.id
        merge(session, other, lead, "cli:ops", default_rules())
        before = {c: storage.leads.counts_by(session, c) for c in ("status", "source", "stage")}
    with keyed.transaction() as session:
        bundle = everything(session)
        subject = resolve(session, f"L-{lead.id}")
    for mark in (*MARKS.values(), ADDRESS, "zqenquirymark", "zqtitlemark", "zqnotemark",
                 "zqaliasmark", "zq.mail@zq-acme.test"):  # fmt: skip
        assert mark in bundle, mark
    assert subject.lead_ids == {lead.id, other.id}

    with keyed.transaction() as session:
        endpoint = WebhookEndpoint(
            url="https://crm.example/hooks", events=["lead.erased"], secret="whsec_" + "A" * 32
        )
        hook = storage.webhooks.add_endpoint(session, endpoint)
        done = erase.erase(session, subject, actor="cli:ops", reason="GDPR art. 17 request")
    assert done.suppressed and done.rows["leads"] == 2

    with keyed.reading() as session:
        tomb = storage.leads.by_id(session, lead.id)
        assert tomb is not None and tomb.erased_at is not None
        assert (tomb.email, tomb.first_name, tomb.company, tomb.enquiry) == ("", "", "", "")
        assert (tomb.status, tomb.stage, tomb.source) == ("working", "mql", "form")
        after = {c: storage.leads.counts_by(session, c) for c in ("status", "source", "stage")}
        assert after == before
        entries = storage.timeline.for_lead(session, lead.id)
        text = json.dumps([(e.summary, e.data, e.actor) for e in entries])
        assert "zq" not in text and entries
        assert session.get(LeadBlockKey, (lead.id, "x")) is None
        [entry] = storage.privacy.log_entries(session)
        assert (entry.actor, entry.action, entry.reason) == ("cli:ops", "erase",
                                                             "GDPR art. 17 request")  # fmt: skip
        assert entry.records["leads"] == sorted([f"L-{lead.id}", f"L-{other.id}"])
        assert "zq" not in json.dumps(entry.records)
        erased = [i for i in storage.outbox.listing(session) if i.kind == "lead.erased"]
        assert {i.payload["lead"] for i in erased} == {f"L-{lead.id}", f"L-{other.id}"}
        assert len(list(session.exec(_all(SuppressedAddress)))) == 2
        # the other systems hear of it: one lead.erased webhook per record, nothing personal
        assert hook.id is not None
        told = storage.webhooks.for_endpoint_in_order(session, hook.id)
        assert sorted(d.lead_id for d in told) == sorted([lead.id, other.id])
        assert {d.event_type for d in told} == {"lead.erased"}
        assert all("zq" not in d.body and "GDPR" not in d.body for d in told)
        with pytest.raises(NotFound):
            resolve(session, ADDRESS)

    # the form, the API and an import are refused into the quarantine; a mail is an enquiry
    with keyed.transaction() as session:
        for source in (FORM, API, IMPORT):
            result = take(session, source, first_name="Back")
            assert result.held and result.hold is not None
            assert result.hold.reasons == [{"check": "erased", "detail": "erased on request"}]
        mailed = take(session, MAIL)
        assert mailed.created and mailed.lead is not None and mailed.lead.id not in subject.lead_ids


def _all(table):  # type: ignore[no-untyped-def]
    from sqlmodel import select

    return select(table)


def test_the_privacy_log_is_append_only_in_the_store(keyed: Store) -> None:
    with keyed.transaction() as session:
        storage.privacy.log(session, "cli:ops", "erase", "why", {"leads": ["L-1"]})
    for change in ("update", "delete"):
        with pytest.raises(DBAPIError, match="append-only"), keyed.transaction() as session:
            [entry] = storage.privacy.log_entries(session)
            if change == "update":
                entry.reason = "rewritten"
                session.add(entry)
            else:
                session.delete(entry)
            session.flush()
    with keyed.reading() as session:
        [entry] = storage.privacy.log_entries(session)
        assert entry.reason == "why"


def test_someone_not_in_the_store_is_said_so_and_nothing_happens(keyed: Store) -> None:
    with keyed.transaction() as session:
        take(session, address="someone@else.test")
    with keyed.reading() as session:
        for query in ("nobody@nowhere.test", "L-999"):
            with pytest.raises(NotFound, match=r"nothing is held|no lead"):
                resolve(session, query)
        assert list(session.exec(_all(PrivacyLogEntry))) == []
        assert list(session.exec(_all(SuppressedAddress))) == []


def test_a_store_opened_without_the_key_refuses_to_guess(keyed: Store, database_url: str) -> None:
    with keyed.transaction() as session:
        lead = take(session).lead
        assert lead is not None
        erase.erase(session, resolve(session, ADDRESS), actor="cli:ops", reason="asked")
    keyless = Store(database_url)
    try:
        with pytest.raises(storage.privacy.NoSecretKey), keyless.transaction() as session:
            take(session, API)
    finally:
        keyless.dispose()


def test_at_most_one_confirmation_mail_an_hour(keyed: Store) -> None:
    from datetime import timedelta

    from storage.models import utcnow

    now, hour = utcnow(), timedelta(hours=1)
    answers = []
    for later in (0, 10, 59, 61, 62):
        with keyed.transaction() as session:
            at = now + timedelta(minutes=later)
            answers.append(storage.privacy.may_send_request(session, ADDRESS, hour, at))
    assert answers == [True, False, False, True, False]


def test_a_capture_racing_an_erase_never_refills_the_tombstone(postgres_url: str) -> None:
    """PostgreSQL, two connections: a form capture that found the lead while an erase was
    under way waits for it (a row lock), then sees the tombstone and is held, not written."""
    import threading
    import time

    from sqlalchemy import text

    keyed = Store(postgres_url, "privacy-test-secret")
    try:
        with keyed.transaction() as session:
            lead = take(session, first_name="Zqracemark").lead
            assert lead is not None and lead.id is not None
        outcome: dict[str, object] = {}

        def capture_meanwhile() -> None:
            with keyed.transaction() as session:
                outcome["result"] = take(session, API, first_name="Zqracemark", title="Back")

        with keyed.transaction() as session:
            erase.erase(session, resolve(session, ADDRESS), actor="cli:ops", reason="asked")
            racer = threading.Thread(target=capture_meanwhile)
            racer.start()
            deadline = time.monotonic() + 20
            while True:  # until the capture waits on the erase's row lock
                with keyed.engine.connect() as probe:
                    waiting = probe.execute(text(
                        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                        "and datname = current_database()")).scalar_one()  # fmt: skip
                if waiting or not racer.is_alive() or time.monotonic() > deadline:
                    break
            assert waiting, "the capture did not wait for the erase"
        racer.join(20)
        result = outcome["result"]
        assert result.held and result.hold.reasons[0]["check"] == "erased"  # type: ignore[attr-defined]
        with keyed.reading() as session:
            tomb = storage.leads.by_id(session, lead.id)
            assert tomb is not None and (tomb.first_name, tomb.title, tomb.email) == ("", "", "")
    finally:
        keyed.dispose()
