"""The enrichment provider against a local stand-in over real HTTP, on a real store: asked once
per company domain, merged into empty fields only, and a slow or failing one changes nothing."""

from __future__ import annotations

import time

import storage.enrichment
import storage.leads
import storage.timeline
from bot.integrations.enrichment.provider import EnrichmentRunner, http_fetch
from storage.engine import Store
from tests.factories import add_indexed_lead, run
from tests.fakes.enrich_provider import FakeProvider, running_provider


def test_the_answer_fills_empty_fields_once_per_domain_and_why_says_so(store: Store) -> None:
    with store.transaction() as session:
        ann_id = add_indexed_lead(session, "ann@bergbau-werke.de", industry="mining").id
        bob_id = add_indexed_lead(session, "bob@bergbau-werke.de").id
        add_indexed_lead(session, "cy@gmail.com")
    answer = {"company_size": "250", "industry": "manufacturing", "owner": "x", "city": ""}
    with running_provider(FakeProvider({"bergbau-werke.de": answer})) as provider:
        runner = EnrichmentRunner(store, http_fetch(provider.url, 5.0), "stand-in")
        assert runner.tick() == 3
        assert runner.tick() == 0
    assert [r["domain"] for r in provider.requests] == ["bergbau-werke.de"]
    assert provider.requests[0]["lead"]["email"] == "ann@bergbau-werke.de"
    with store.transaction() as session:
        ann, bob = storage.leads.by_id(session, ann_id), storage.leads.by_id(session, bob_id)  # type: ignore[arg-type]
        assert (ann.company_size, ann.industry) == ("250", "mining")  # a stated value wins
        assert (bob.company_size, bob.industry) == ("250", "manufacturing")
        assert storage.enrichment.answer_for(session, "bergbau-werke.de").ok  # type: ignore[union-attr]
        why = run(session, f"why L-{bob_id}").message
    assert "industry manufacturing: the enrichment provider (stand-in)" in why


def test_a_slow_or_failing_provider_changes_nothing_and_is_asked_again_later(
    store: Store,
) -> None:
    with store.transaction() as session:
        lead_id = add_indexed_lead(session, "dee@slow-co.com").id
    with running_provider(FakeProvider({"slow-co.com": {"industry": "x"}}, delay=2.0)) as slow:
        runner = EnrichmentRunner(store, http_fetch(slow.url, 0.3), "stand-in")
        started = time.monotonic()
        assert runner.tick() == 1
        assert time.monotonic() - started < 1.5  # the timeout, not the provider, decides
    with running_provider(FakeProvider(status=500)) as failing:
        with store.transaction() as session:
            add_indexed_lead(session, "eve@failing-co.com")
        assert EnrichmentRunner(store, http_fetch(failing.url, 2.0), "stand-in").tick() == 1
    with store.transaction() as session:
        assert storage.leads.by_id(session, lead_id).industry == ""  # type: ignore[arg-type, union-attr]
        for domain in ("slow-co.com", "failing-co.com"):
            cached = storage.enrichment.answer_for(session, domain)
            assert cached is not None and not cached.ok and cached.error
