"""`dedupe train` on a real store (SQLite file and PostgreSQL): the model is saved, capture
and `why-duplicate` use it, and `refit_if_grown` fits again only when the store grew."""

from __future__ import annotations

import storage.duplicates
from bot.dedupe import store_match, store_train
from bot.dedupe.match import MatchRules
from storage.engine import Store
from tests.dedupe.test_model import people
from tests.factories import add_indexed_lead, run


def fill(store: Store, count: int, seed: int = 11) -> None:
    """`count` people, each at an address of their own (one live lead per address): a second
    fill takes another seed and addresses after the leads already stored."""
    rows, _ = people(count, seed=seed)
    first = storage_count(store)
    with store.transaction() as session:
        for row in rows:
            address = f"p{first + int(row.key)}@example.org"
            add_indexed_lead(session, address, first_name=row.first_name,
                             last_name=row.last_name, street=row.street, city=row.city,
                             postal_code=row.postal_code)  # fmt: skip


def test_train_saves_the_model_that_matching_and_why_duplicate_use(store: Store) -> None:
    fill(store, 120)
    with store.transaction() as session:
        before = run(session, "why-duplicate L-1 L-2").message
    assert "the shipped model (not trained on this store yet" in before
    trained = store_train.train(store, MatchRules(), "test")
    assert trained.model.trained_on == storage_count(store)
    with store.transaction() as session:
        assert storage.duplicates.latest_model_id(session) == trained.model_id
        rules = store_match.with_model(session, MatchRules())
        assert rules.model is not None and rules.model.trained_on == trained.model.trained_on  # type: ignore[attr-defined]
        text = run(session, "why-duplicate L-1 L-2").message
    assert f"the model trained on {trained.model.trained_on:,} leads" in text
    assert "  prior " in text and "match probability" in text and "score " in text
    # A store that did not grow is not fitted again; one that grew by a quarter is.
    assert store_train.refit_if_grown(store, MatchRules()) is None


def test_refit_waits_for_enough_leads_then_for_growth(store: Store) -> None:
    fill(store, 100)
    assert store_train.refit_if_grown(store, MatchRules()) is None  # under MIN_LEADS
    fill(store, 80, seed=12)
    first = store_train.refit_if_grown(store, MatchRules())
    assert first is not None
    assert store_train.refit_if_grown(store, MatchRules()) is None


def storage_count(store: Store) -> int:
    with store.reading() as session:
        return storage.duplicates.active_lead_count(session)
