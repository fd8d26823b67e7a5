"""Named queries over API keys and the answers kept for Idempotency-Key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from storage.api_tables import ApiKey, IdempotentAnswer
from storage.models import utcnow


def add(session: Session, key: ApiKey) -> ApiKey:
    session.add(key)
    session.flush()
    return key


def by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()


def by_name(session: Session, name: str) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.name == name)).first()


def listing(session: Session) -> Sequence[ApiKey]:
    return session.exec(select(ApiKey).order_by(col(ApiKey.id))).all()


def mark_used(session: Session, key_id: int, at: datetime) -> None:
    session.exec(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=at))  # type: ignore[call-overload]


def answer(session: Session, key_id: int, idempotency_key: str) -> IdempotentAnswer | None:
    query = (
        select(IdempotentAnswer)
        .where(IdempotentAnswer.api_key_id == key_id)
        .where(IdempotentAnswer.idempotency_key == idempotency_key)
    )
    return session.exec(query).first()


def keep_answer(session: Session, answer: IdempotentAnswer) -> None:
    """Written in the change's own transaction: a second request with the same key fails on the
    unique index and its change rolls back."""
    session.add(answer)
    session.flush()


def forget_answers_before(session: Session, before: datetime | None = None) -> int:
    result = session.exec(  # type: ignore[call-overload]
        delete(IdempotentAnswer).where(col(IdempotentAnswer.created_at) < (before or utcnow()))
    )
    return int(result.rowcount or 0)


def forget_answer(session: Session, answer: IdempotentAnswer) -> None:
    session.delete(answer)
    session.flush()
