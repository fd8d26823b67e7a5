"""The summaries the reports read (kept by the store's triggers, migration 0019) give the same
figures as a scan of the facts: over windows cut anywhere (whole months and days, partial ones
at the edges, open-ended), grouped and filtered every way the reports ask, on SQLite and
PostgreSQL, and still after an erasure and after fact rows are deleted behind the roll-up's
back (an import's revert deletes the rows of the leads it created)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col

import storage.reports
from bot.privacy import erase
from bot.privacy.subject import resolve
from bot.reports import figures, rollup
from bot.reports.figures import Window
from storage.engine import Store
from storage.report_tables import LeadFact, speed_bucket
from tests.reports.history import NOW, build

WINDOWS = [
    # partial periods at both edges, whole days and a whole month between
    (datetime(2026, 10, 12, 13, 37, tzinfo=UTC), datetime(2026, 11, 30, 8, tzinfo=UTC)),
    (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),  # whole months
    (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 17, tzinfo=UTC)),  # whole days
    (datetime(2026, 11, 3, 10, tzinfo=UTC), datetime(2026, 11, 3, 12, 30, tzinfo=UTC)),
    (None, datetime(2026, 11, 10, 5, tzinfo=UTC)),
    (datetime(2026, 11, 3, 10, tzinfo=UTC), None),
    (None, None),
]
KEYS = [(), ("day",), ("week",), ("month",), ("source",), ("utm_source",), ("utm_campaign",),
        ("owner",), ("week", "source"), ("month", "source")]  # fmt: skip


def same_everywhere(store: Store, owners: list[int | None], windows: int = len(WINDOWS)) -> int:
    """Compare every grouping in each window, each with a filter of its own (none, a channel,
    a UTM source, an owner, both) in turn; how many comparisons were made."""
    compared = 0
    filters = [(None, None), ("email", None), ("newsletter", None), (None, owners[1]),
               ("email", owners[2]), (None, owners[0])]  # fmt: skip
    with store.reading() as session:
        for since, until in WINDOWS[:windows]:
            for keys in KEYS:
                source, owner = filters[compared % len(filters)]
                args = (session, keys, since, until, source, owner)
                fast = storage.reports.grouped_counts(*args)
                scan = storage.reports.grouped_counts(*args, summaries=False)
                assert fast == scan, (keys, since, until, source, owner)
                compared += 1
            window = Window(since or datetime(2020, 1, 1, tzinfo=UTC),
                            until or datetime(2030, 1, 1, tzinfo=UTC), now=NOW)  # fmt: skip
            fast: Any = figures._speeds_from_histograms(session, window)
            assert fast == figures._speeds_from_facts(session, window), window
    return compared


def test_summaries_give_the_figures_of_a_scan(store: Store) -> None:
    ids = build(store)
    rollup.catch_up(store)
    owners = [None, ids["ann"], ids["bob"]]
    assert same_everywhere(store, owners) == len(WINDOWS) * len(KEYS)
    with store.reading() as session:
        whole = storage.reports.grouped_counts(session, (), None, None, None, None)
    assert whole[()][0] == 7  # seven live leads (L-5 was merged into L-4)

    # An erasure rewrites the lead's facts (a trigger moves its counts with them).
    with store.transaction() as session:
        erase.erase(
            session,
            resolve(session, "l2@beta.example"),
            actor="cli:ops",
            reason="asked",
            suppress=False,
        )
    rollup.catch_up(store)
    same_everywhere(store, owners, windows=1)

    # Fact rows deleted and changed by plain SQL, not by the roll-up: the summaries follow.
    with store.transaction() as session:
        session.exec(delete(LeadFact).where(col(LeadFact.lead_id) == ids["l7"]))  # type: ignore[call-overload]
        fact = session.get(LeadFact, ids["l1"])
        assert fact is not None and fact.touch_seconds is not None
        fact.owner_id, fact.source = ids["bob"], "form"
        fact.touch_seconds = fact.touch_seconds * 3
        fact.touch_bucket = speed_bucket(fact.touch_seconds)
        session.add(fact)
    same_everywhere(store, owners, windows=1)
    with store.reading() as session:
        whole = storage.reports.grouped_counts(session, (), None, None, None, None)
    assert whole[()][0] == 6

    # A rebuild from the timeline brings the facts, and so the summaries, back.
    rollup.rebuild(store)
    same_everywhere(store, owners, windows=1)
    with store.reading() as session:
        whole = storage.reports.grouped_counts(session, (), None, None, None, None)
    assert whole[()][0] == 7
