"""Named queries for the enrichment provider: its cached answers per domain, the leads it has
not looked at yet."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import EnrichmentAnswer, Lead


def leads_after(session: Session, after_id: int, limit: int) -> Sequence[Lead]:
    """Active leads with an id above `after_id`, oldest first."""
    query = (
        select(Lead)
        .where(col(Lead.id) > after_id, col(Lead.merged_into_id).is_(None))
        .order_by(col(Lead.id))
        .limit(limit)
    )
    return session.exec(query).all()


def answer_for(session: Session, domain: str) -> EnrichmentAnswer | None:
    return session.get(EnrichmentAnswer, domain)


def keep_answer(session: Session, answer: EnrichmentAnswer) -> None:
    """Insert or replace the answer for its domain (two workers may ask at once: the last
    answer stands, which is as good as the first)."""
    values = {"domain": answer.domain, "fetched_at": answer.fetched_at, "ok": answer.ok,
              "answer": answer.answer, "error": answer.error}  # fmt: skip
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(EnrichmentAnswer).values(**values)
    updates = {k: statement.excluded[k] for k in values if k != "domain"}
    session.execute(statement.on_conflict_do_update(index_elements=["domain"], set_=updates))
