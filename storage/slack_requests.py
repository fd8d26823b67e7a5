"""Named queries over the Slack requests already honoured (replay protection)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.models import SlackRequestSeen

# Slack refuses timestamps older than five minutes; a signature is kept a little longer.
KEEP = timedelta(minutes=10)


def first_use(session: Session, signature: str, now: datetime) -> bool:
    """Record `signature` as used; False when it was used before, in any process (the primary
    key decides, so two copies arriving at once are told apart too)."""
    session.exec(delete(SlackRequestSeen).where(col(SlackRequestSeen.at) < now - KEEP))  # type: ignore[call-overload]
    try:
        with session.begin_nested():
            session.add(SlackRequestSeen(signature=signature, at=now))
            session.flush()
    except IntegrityError:
        return False
    return True
