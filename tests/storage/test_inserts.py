"""INSERT … ON CONFLICT DO NOTHING as a cached text statement (storage/inserts.py), on a real
SQLite file and PostgreSQL: rows go in typed as their columns (JSON, datetimes), a conflicting
row is left alone and returns nothing, keyword column names work, and the statement compiles
once, where the dialects' own insert compiled on every execution."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

import storage.forms
from bot.forms import definitions
from storage.campaign_tables import TrackingSpoolOffset
from storage.engine import Store
from storage.form_tables import FormSubmission
from storage.inserts import insert_ignoring
from storage.models import utcnow

SUBMISSIONS = FormSubmission.__table__  # type: ignore[attr-defined]


def a_form(store: Store) -> int:
    with store.transaction() as session:
        form = definitions.create(session, "demo", ["email:required"], redirect="")
        assert form.id is not None
        return form.id


def test_a_row_goes_in_typed_and_a_conflicting_one_returns_nothing(store: Store) -> None:
    form_id = a_form(store)
    at = utcnow() - timedelta(minutes=5)
    row = {"form_id": form_id, "received_at": at, "posted": {"email": "ann@acme.io", "n": 1},
           "reasons": [{"check": "too_fast", "detail": "0.2 s"}], "nonce": "n-1",
           "attribution": {}, "consent": {}, "state": "queued"}  # fmt: skip
    with store.transaction() as session:
        first = insert_ignoring(session, SUBMISSIONS, row, conflict=["nonce"], returning="id")
        new_id = first.scalar()
        again = insert_ignoring(session, SUBMISSIONS, {**row, "posted": {"other": "x"}},
                                conflict=["nonce"], returning="id")  # fmt: skip
        assert again.first() is None
    assert new_id is not None
    with store.reading() as session:
        stored = storage.forms.submission_by_id(session, new_id)
        assert stored is not None
        assert stored.posted == {"email": "ann@acme.io", "n": 1}  # the first one's, as JSON
        assert stored.reasons == [{"check": "too_fast", "detail": "0.2 s"}]
        assert stored.received_at.replace(tzinfo=None) == at.replace(tzinfo=None)


def test_many_rows_with_a_keyword_column_and_duplicates_among_them(store: Store) -> None:
    now = utcnow()
    rows = [{"segment": name, "offset": n, "updated_at": now}
            for n, name in enumerate(["a", "b", "a", "c"])]  # fmt: skip
    table = TrackingSpoolOffset.__table__  # type: ignore[attr-defined]
    with store.transaction() as session:
        insert_ignoring(session, table, rows)
        insert_ignoring(session, table, {"segment": "b", "offset": 99, "updated_at": now})
        stored = session.connection().execute(table.select().order_by(table.c.segment)).all()
    assert [(r.segment, r.offset) for r in stored] == [("a", 0), ("b", 1), ("c", 3)]


def test_the_statement_compiles_once_where_the_dialects_insert_compiled_each_time(
    store: Store,
) -> None:
    form_id = a_form(store)

    def row(n: int) -> dict[str, object]:
        return {"form_id": form_id, "posted": {}, "attribution": {}, "consent": {},
                "reasons": [], "nonce": f"n{n}", "received_at": utcnow()}  # fmt: skip

    dialect_insert = pg_insert if store.engine.dialect.name == "postgresql" else sqlite_insert
    with store.transaction() as session:
        stats = []
        for n in range(3):
            result = insert_ignoring(session, SUBMISSIONS, row(n), conflict=["nonce"],
                                     returning="id")  # fmt: skip
            stats.append(result.context._get_cache_stats())  # type: ignore[attr-defined]
            assert result.scalar() is not None
        statement = dialect_insert(SUBMISSIONS).on_conflict_do_nothing(index_elements=["nonce"])
        old = session.execute(statement, row(9)).context._get_cache_stats()  # type: ignore[attr-defined]
    assert [s.split(" in ")[0].split(" since")[0] for s in stats] == ["generated"] + ["cached"] * 2
    assert old.startswith("no key")  # why storage/inserts.py exists
