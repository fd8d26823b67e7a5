"""Web forms below HTTP, on a real store (SQLite file and PostgreSQL): what a POST stores, what
the processor makes of it (a lead through capture, or a hold in the intake quarantine with its
reason), approval, processing failures, double opt-in's throttle, and races between workers."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

import storage.forms
import storage.intake
import storage.leads
import storage.outbox
import storage.timeline
from bot.forms import definitions, process
from bot.forms.submit import Outcome, Posted, accept
from bot.forms.tokens import FormTokens
from bot.integrations.slack.blocks import lead_card
from bot.leads.capture import approve
from bot.public_links import PublicLinks
from bot.rules.file import Rules, default_rules
from bot.rules.forms import FormRules
from storage.engine import Store
from storage.models import (
    FormConfirmation,
    FormSubmission,
    IntakeRecord,
    Lead,
    WebForm,
    utcnow,
)
from tests.factories import enrichment_fails_for

SECRET = "test-secret"
OWN = ("http://127.0.0.1:8000",)
TOKENS = FormTokens(SECRET)
# A visitor who took ten seconds to fill the form: its token was rendered ten seconds ago.
FILLED_SLOWLY = FormTokens(SECRET, clock=lambda: time.time() - 10)


def rules_with(**forms: object) -> Rules:
    return dataclasses.replace(default_rules(), forms=FormRules(**forms))  # type: ignore[arg-type]


def make_form(store: Store, name: str = "demo-request", **options: object) -> WebForm:
    with store.transaction() as session:
        return definitions.create(
            session,
            name,
            ["email:required", "first_name", "last_name", "company", "message"],
            redirect="https://yourco.example/thanks",
            origins=["https://yourco.example"],
            **options,  # type: ignore[arg-type]
        )


def post(
    store: Store,
    form: WebForm,
    *,
    tokens: FormTokens = FILLED_SLOWLY,
    token: str | None = None,
    rules: Rules | None = None,
    ip: str = "192.0.2.1",
    origin: str = "https://yourco.example",
    **values: str,
) -> Outcome:
    assert form.id is not None
    body = {"email": "jane@acme.io", "first_name": "Jane", "message": "A demo, please", **values}
    body["_token"] = tokens.fill_token(form.id) if token is None else token
    posted = Posted(body, client_ip=ip, origin=origin, content_type="application/json")
    return accept(store, form, posted, TOKENS, (rules or default_rules()).forms, OWN)


def processed(store: Store, rules: Rules | None = None) -> list[FormSubmission]:
    process.FormProcessor(store, lambda: rules or default_rules()).drain()
    with store.transaction() as session:
        return list(session.exec(select(FormSubmission).order_by(FormSubmission.id)).all())  # type: ignore[arg-type]


def held_checks(store: Store) -> list[list[str]]:
    with store.transaction() as session:
        return [[r["check"] for r in h.reasons] for h in storage.intake.held(session)]


def lead_count(store: Store) -> int:
    with store.transaction() as session:
        return len(storage.leads.listing(session, limit=1000))


def test_a_submission_becomes_a_scored_lead_with_its_attribution_and_consent(store: Store) -> None:
    form = make_form(store, consent="I agree to be contacted", tags=["webinar"])
    outcome = post(store, form, consent="yes", company="Acme",
                   _page="https://yourco.example/demo?utm_source=news&utm_campaign=spring",
                   _referrer="https://search.example/")  # fmt: skip
    assert outcome.kind == "stored"
    [submission] = processed(store)
    assert submission.state == "done" and submission.lead_id is not None
    assert submission.attribution == {
        "utm_source": "news", "utm_campaign": "spring", "referrer": "https://search.example/",
        "page": "https://yourco.example/demo?utm_source=news&utm_campaign=spring",
    }  # fmt: skip
    assert submission.consent["text"] == "I agree to be contacted"
    assert submission.consent["checked"] is True
    assert submission.consent["version"] == definitions.consent_version("I agree to be contacted")
    with store.transaction() as session:
        lead = storage.leads.by_id(session, submission.lead_id)
        assert lead is not None
        entries = storage.timeline.for_lead(session, submission.lead_id)
        [card] = storage.outbox.listing(session)
    assert (lead.email, lead.first_name, lead.company, lead.source) == (
        "jane@acme.io", "Jane", "Acme", "form")  # fmt: skip
    assert lead.enquiry == "A demo, please"
    assert lead.custom["tags"] == ["webinar"]
    post_entry = entries[-1]
    assert post_entry.kind == "form.post"  # scored as form_post
    assert post_entry.summary == (
        "enquiry: form demo-request · page https://yourco.example/demo?utm_source=news"
        "&utm_campaign=spring · campaign spring"
    )
    assert card.kind == "lead.new" and card.payload["subject"].startswith("form demo-request")
    # the rep's Slack card: the form, the page and the campaign, as escaped text
    blocks = lead_card(lead, entries, None, PublicLinks("https://leadbot.example", SECRET))
    shown = json.dumps(blocks)
    assert "form demo-request" in shown and "campaign spring" in shown
    assert "page https://yourco.example/demo?utm_source=news&amp;utm_campaign=spring" in shown


def test_a_known_person_and_a_double_click_make_one_lead(store: Store) -> None:
    form = make_form(store)
    token = FILLED_SLOWLY.fill_token(form.id or 0)
    post(store, form, token=token)
    post(store, form, token=token)  # the same page posted twice: a double click
    post(store, form, first_name="Jane", company="Acme Inc")  # the same person, a new visit
    subs = processed(store)
    assert [s.state for s in subs] == ["done", "duplicate", "done"]
    assert subs[1].duplicate_of == subs[0].id
    assert subs[0].lead_id == subs[2].lead_id and lead_count(store) == 1
    assert held_checks(store) == []


# Each way of spam, posted by a different client with a different address.
SPAM: list[tuple[str, dict[str, object]]] = [
    ("honeypot", {"homepage": "http://cheap.example"}),
    ("too_fast", {"tokens": FormTokens(SECRET)}),
    ("token", {"token": "forged.token"}),
    ("token", {"tokens": FormTokens("another key", clock=lambda: time.time() - 10)}),
    ("token", {"tokens": FormTokens(SECRET, clock=lambda: time.time() - 3 * 86400)}),  # expired
    ("token", {"token": ""}),  # a JSON post without one
    ("origin", {"origin": "https://evil.example"}),
    ("length", {"message": "x" * 5001}),
    ("length", {"first_name": "J" * 201}),  # capture's own intake check: over the field's 200
]


def test_spam_is_held_in_the_intake_quarantine_not_made_a_lead(store: Store) -> None:
    form = make_form(store)
    for i, (_, how) in enumerate(SPAM):
        outcome = post(store, form, email=f"s{i}@acme.io", ip=f"198.51.100.{i}", **how)  # type: ignore[arg-type]
        assert outcome.kind == "stored"
    subs = processed(store)
    assert [s.state for s in subs] == ["held"] * len(SPAM)
    assert all(s.intake_record_id is not None for s in subs)
    assert held_checks(store) == [[check] for check, _ in SPAM]
    assert lead_count(store) == 0


def test_a_replayed_token_with_other_values_is_held(store: Store) -> None:
    form = make_form(store)
    token = FILLED_SLOWLY.fill_token(form.id or 0)
    post(store, form, token=token)
    post(store, form, token=token, email="bot@spam.example", first_name="Buy now")
    subs = processed(store)
    assert [s.state for s in subs] == ["done", "held"]
    assert held_checks(store) == [["replay"]]
    assert lead_count(store) == 1


def test_floods_over_the_rules_limits_are_held(store: Store) -> None:
    rules = rules_with(per_ip_limit=2, per_address_limit=2, per_form_limit=3)
    by_ip, by_address, by_form = (make_form(store, name) for name in ("a", "b", "c"))
    for i in range(3):  # one client, three addresses
        post(store, by_ip, rules=rules, email=f"ip{i}@acme.io", ip="192.0.2.1")
    for i in range(3):  # one address, three clients
        post(store, by_address, rules=rules, email="same@acme.io", ip=f"192.0.2.{10 + i}")
    for i in range(4):  # four people, one form
        post(store, by_form, rules=rules, email=f"f{i}@acme.io", ip=f"192.0.2.{20 + i}")
    subs = processed(store, rules)
    assert [s.state for s in subs] == ["done", "done", "held"] * 2 + ["done"] * 3 + ["held"]
    with store.transaction() as session:
        held = storage.intake.held(session)
        details = [r["detail"] for h in held for r in h.reasons]
    assert [r["check"] for h in held for r in h.reasons] == ["flood"] * 3
    assert "3 submissions from client 192.0.2.1 within 10 minutes, over the limit of 2" in details
    assert "3 submissions from same@acme.io within 10 minutes, over the limit of 2" in details
    assert "4 submissions from this form within 10 minutes, over the limit of 3" in details


def test_a_flood_is_counted_up_to_ten_times_its_limit(store: Store) -> None:
    """Each submission counts the ones before it only up to ten times the limit: a flood of one
    client does not make every post read all the others."""
    rules = rules_with(per_ip_limit=1)
    form = make_form(store)
    for i in range(13):
        post(store, form, rules=rules, email=f"p{i}@acme.io", ip="198.51.100.7")
    subs = processed(store, rules)
    assert [s.state for s in subs] == ["done"] + ["held"] * 12
    with store.transaction() as session:
        details = [r["detail"] for h in storage.intake.held(session) for r in h.reasons]
    suffix = " submissions from client 198.51.100.7 within 10 minutes, over the limit of 1"
    assert details == [f"{n}{suffix}" for n in range(2, 11)] + [f"more than 10{suffix}"] * 3


def test_approving_a_held_submission_makes_the_lead_with_the_forms_tags(store: Store) -> None:
    form = make_form(store, tags=["webinar"])
    post(store, form, tokens=FormTokens(SECRET))  # too fast
    [submission] = processed(store)
    assert submission.intake_record_id is not None
    with store.transaction() as session:
        result = approve(session, submission.intake_record_id, "cli:ann", rules=default_rules())
    assert result.lead is not None and result.lead.source == "form"
    [submission] = processed(store)  # the processor follows the decision
    assert submission.state == "done" and submission.lead_id == result.lead.id
    with store.transaction() as session:
        lead = storage.leads.by_id(session, result.lead.id or 0)
        assert lead is not None and lead.custom["tags"] == ["webinar"]


def test_a_processing_failure_quarantines_the_submission_and_retry_makes_the_lead(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = make_form(store)
    post(store, form)

    def broken(session: object, items: list[object], **kwargs: object) -> list[Exception]:
        return [RuntimeError("the store fell over") for _ in items]  # as capture_many reports

    monkeypatch.setattr(process, "capture_batch", broken)
    [submission] = processed(store)
    assert submission.state == "quarantined"
    assert submission.error is not None and "RuntimeError: the store fell over" in submission.error
    assert lead_count(store) == 0
    monkeypatch.undo()
    processor = process.FormProcessor(store, default_rules)
    assert processor.retry(submission.id or 0)
    [submission] = processed(store)
    assert submission.state == "done" and lead_count(store) == 1


def test_double_opt_in_waits_for_the_click_and_mails_an_address_once_an_hour(store: Store) -> None:
    form = make_form(store, "newsletter", double_opt_in=True)
    post(store, form)
    post(store, form, ip="192.0.2.9")  # the same address again within the hour
    subs = processed(store)
    assert [s.state for s in subs] == ["done", "done"]
    with store.transaction() as session:
        lead = storage.leads.by_id(session, subs[0].lead_id or 0)
        assert lead is not None and lead.email_status == "unconfirmed"
        assert len(storage.forms.confirmations_to(session, "jane@acme.io")) == 1
        notes = [e.summary for e in storage.timeline.for_lead(session, lead.id or 0)
                 if e.kind == "form.confirmation"]  # fmt: skip
    assert notes[0].startswith("confirmation mail queued")
    assert notes[1].startswith("no confirmation mail: jane@acme.io was sent one within 60")


def test_the_hourly_throttle_opens_again_after_the_hour(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    now = utcnow()
    hour = timedelta(hours=1)
    with store.transaction() as session:
        assert storage.forms.reserve_confirmation(session, "a@acme.io", now, now - hour)
        assert not storage.forms.reserve_confirmation(session, "a@acme.io", now, now - hour)
        later = now + timedelta(minutes=61)
        assert storage.forms.reserve_confirmation(session, "a@acme.io", later, later - hour)


def race(store: Store, work: Callable[[], object], workers: int = 6) -> list[object]:
    """Run `work` in several threads at once, each with its own connection and transaction."""
    barrier = threading.Barrier(workers)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


def test_racing_workers_send_one_confirmation_and_store_one_fresh_token(store: Store) -> None:
    now = utcnow()

    def reserve() -> bool:
        with store.transaction() as session:
            return storage.forms.reserve_confirmation(
                session, "race@acme.io", now, now - timedelta(hours=1)
            )

    assert sorted(race(store, reserve)) == [False] * 5 + [True]
    form = make_form(store)
    token = FILLED_SLOWLY.fill_token(form.id or 0)
    race(store, lambda: post(store, form, token=token))
    subs = processed(store)
    assert sorted(s.state for s in subs) == ["done"] + ["duplicate"] * 5
    assert lead_count(store) == 1


def test_form_definitions_refuse_what_they_cannot_use(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    with store.transaction() as session:
        with pytest.raises(definitions.FormError, match="unknown field 'shoe_size'"):
            definitions.create(session, "a", ["shoe_size"])
        with pytest.raises(definitions.FormError, match="absolute http"):
            definitions.create(session, "b", ["email"], redirect="/thanks")
        with pytest.raises(definitions.FormError, match="without a path"):
            definitions.create(session, "c", ["email"], origins=["https://x.example/page"])
        with pytest.raises(definitions.FormError, match="lower-case"):
            definitions.create(session, "Bad Name", ["email"])
        form = definitions.create(session, "d", ["company"])
        assert [f["name"] for f in form.fields] == ["email", "company"]  # the address, always
    with store.transaction() as session, pytest.raises(definitions.FormError, match="exists"):
        definitions.create(session, "d", ["email"])


def test_a_disabled_form_takes_nothing(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    form = make_form(store)
    with store.transaction() as session:
        form = definitions.disable(session, "demo-request")
    assert post(store, form).kind == "missing"
    with store.transaction() as session:
        assert session.exec(select(IntakeRecord)).first() is None
        assert session.exec(select(FormConfirmation)).first() is None


def test_the_forms_table_of_the_rules_file_is_checked_with_its_line() -> None:
    from bot.rules.file import RulesError, parse_rules

    rules = parse_rules("[forms]\nmin_fill_seconds = 3\nper_ip_limit = 0\n")
    assert (rules.forms.min_fill_seconds, rules.forms.per_ip_limit) == (3.0, 0)
    with pytest.raises(RulesError, match=r"rules:3: forms.per_ip_limt: unknown key"):
        parse_rules("[forms]\nmin_fill_seconds = 3\nper_ip_limt = 1\n")
    with pytest.raises(RulesError, match=r"rules:2: forms.window_minutes: must be a number"):
        parse_rules('[forms]\nwindow_minutes = "ten"\n')


def test_campaigns_mail_confirmed_addresses_not_unconfirmed_ones(store: Store) -> None:
    import storage.campaigns
    from tests.campaign_helpers import add_campaign, add_leads

    ok, unconfirmed, confirmed = add_leads(store, 3)
    with store.transaction() as session:
        for lead_id, status in ((unconfirmed, "unconfirmed"), (confirmed, "confirmed")):
            lead = storage.leads.by_id(session, lead_id)
            assert lead is not None
            lead.email_status = status
            session.add(lead)
    campaign_id = add_campaign(store)
    with store.transaction() as session:
        found = storage.campaigns.segment_candidates(session, campaign_id, {}, utcnow())
        assert sorted(lead.id for lead in found) == sorted([ok, confirmed])


def test_a_batch_of_submissions_is_one_transaction_and_a_failing_capture_is_quarantined_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = make_form(store)
    for n in range(6):
        post(store, form, email=f"visitor{n}@firm-{n}.test")
    enrichment_fails_for(monkeypatch, "visitor4@")
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _connection: commits.append(1))
    assert process.FormProcessor(store, default_rules).drain_once() == 6
    assert len(commits) == 1
    with store.reading() as session:
        rows = session.exec(select(FormSubmission).order_by(FormSubmission.id)).all()
        states = [(row.state, (row.error or "").split(":")[0]) for row in rows]
        emails = sorted(session.exec(select(Lead.email)).all())
    assert states == [("done", "")] * 4 + [("quarantined", "ValueError"), ("done", "")]
    assert emails == sorted(f"visitor{n}@firm-{n}.test" for n in (0, 1, 2, 3, 5))
