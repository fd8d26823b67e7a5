"""The batch matcher (bot/imports/batch.py, used by imports and the inbox worker's batches)
answers as the store's matcher does: the same candidates, scores and order, under the store's
trained model, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from dataclasses import replace

import storage.leads
from bot.dedupe import store_match, store_train
from bot.dedupe.match import MatchRules
from bot.imports.batch import BatchMatcher
from bot.leads.capture import Draft
from storage.engine import Store
from storage.models import Lead
from tests.dedupe.test_model import people, typo
from tests.dedupe.test_store_train import fill
from tests.factories import new_reply_token

FIELDS = ("first_name", "last_name", "street", "city", "postal_code")


def test_the_batch_matcher_finds_what_find_matches_finds_under_the_trained_model(
    store: Store,
) -> None:
    fill(store, 150)
    trained = store_train.train(store, MatchRules(), "test")
    assert trained.model.trained_on >= 150
    stored, _ = people(150, seed=11)  # who `fill` stored
    rng = random.Random(5)
    probes = [  # stored people again with a typo or a field missing, and new people
        replace(person, last_name=typo(person.last_name, rng)) if i % 3 == 0
        else replace(person, city="") if i % 3 == 1 else person
        for i, person in enumerate(stored[:30])
    ] + people(15, seed=12)[0]  # fmt: skip
    compared = matched = 0
    with store.transaction() as session:
        for n, person in enumerate(probes):
            values = {name: getattr(person, name) for name in FIELDS}
            address = f"probe{n}@example.net"
            lead = storage.leads.add(
                session, Lead(email=address, reply_token=new_reply_token(), **values)
            )
            rules = MatchRules()
            expected = store_match.find_matches(session, lead, rules)
            matcher = BatchMatcher(rules)
            matcher.load(session, [Draft.of(address, **values)])
            got = matcher.matches(session, lead, rules)
            assert [(m.key, m.score, m.verdict, m.bits) for m in got] == [
                (m.key, m.score, m.verdict, m.bits) for m in expected
            ], person
            compared += 1
            matched += bool(expected)
    assert compared == len(probes) and matched >= 5  # the comparison saw real matches
