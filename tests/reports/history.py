"""A store with a known history, written through the real domain functions at the times a
controllable clock gives: the leads, reps and figures the report tests assert."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlmodel import Session, col, select

import storage.reps
from bot.leads import actions
from bot.leads.permissions import Actor
from storage.engine import Store
from storage.models import Lead, Rep, TimelineEntry
from tests.factories import OPERATOR, add_indexed_lead, run

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 10, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)


def at(day: int, hour: float, month: int = 11) -> datetime:
    return datetime(2026, month, day, int(hour), int(hour % 1 * 60), tzinfo=UTC)


@contextmanager
def clock(session: Session, when: datetime) -> Iterator[None]:
    """Whatever the block writes to the timeline happened at `when`."""
    session.flush()
    before = session.exec(select(TimelineEntry.id).order_by(col(TimelineEntry.id).desc())).first()
    yield
    session.flush()
    for entry in session.exec(
        select(TimelineEntry).where(col(TimelineEntry.id) > (before or 0))
    ).all():
        entry.at = when
        session.add(entry)
    session.flush()


def lead(session: Session, email: str, when: datetime, source: str, owner: Rep | None,
         **fields: object) -> Lead:  # fmt: skip
    with clock(session, when):
        row = add_indexed_lead(session, email, source=source, created_at=when, **fields)
        assert row.id is not None
        session.add(TimelineEntry(lead_id=row.id, actor="system", kind="created",
                                  summary=f"lead created from {source}"))  # fmt: skip
        if owner is not None:
            actions.assign(session, row, owner, OPERATOR.label)
    return row


def build(store: Store) -> dict[str, int]:
    """Seven live leads and one merged into another; the ids by name."""
    with store.transaction() as session:
        ann = storage.reps.add(session, Rep(name="ann", email="ann@example.com",
                               working_hours="09:00-17:00", working_days="mon-fri"))  # fmt: skip
        bob = storage.reps.add(session, Rep(name="bob", email="bob@example.com"))
        as_ann, as_bob = Actor.for_rep(ann), Actor.for_rep(bob)
        l1 = lead(session, "l1@acme.example", at(2, 8), "email", ann, company="Acme")
        with clock(session, at(2, 10)):
            run(session, f"work L-{l1.id}", as_ann)
        with clock(session, at(3, 9)):
            run(session, f"qualify L-{l1.id}", as_ann)
        with clock(session, at(4, 8)):
            run(session, f"convert L-{l1.id} Acme deal 1000", as_ann)
        l2 = lead(session, "l2@beta.example", at(6, 16), "form", ann)
        with clock(session, at(9, 9.5)):
            run(session, f"note L-{l2.id} called, left a message", as_ann)
        l3 = lead(session, "l3@gamma.example", at(3, 12), "email", bob, company="Gamma")
        with clock(session, at(3, 12.5)):
            run(session, f"work L-{l3.id}", as_bob)
        with clock(session, at(4, 12)):
            run(session, f"convert L-{l3.id} Gamma deal 500", as_bob)
        with clock(session, at(5, 12)):
            run(session, f"unconvert L-{l3.id}", as_bob)
        l4 = lead(session, "l4@delta.example", at(10, 10), "email", bob, first_name="Dee")
        l5 = lead(session, "dee@delta.example", at(10, 11), "email", bob, first_name="Dee")
        with clock(session, at(10, 12)):
            run(session, f"merge L-{l5.id} L-{l4.id}")
        with clock(session, at(10, 14)):
            run(session, f"note L-{l4.id} sent the brochure", as_bob)
        l6 = lead(session, "l6@eps.example", at(16, 9), "email", ann)
        with clock(session, at(16, 10)):
            run(session, f"trash L-{l6.id} no_budget", as_ann)
        with clock(session, at(20, 15)):
            run(session, f"reopen L-{l6.id}", as_ann)
        with clock(session, at(23, 10)):
            run(session, f"note L-{l6.id} budget is back", as_ann)
        l7 = lead(session, "l7@zeta.example", at(30, 6), "api", None,
                  custom={"utm_source": "newsletter", "utm_campaign": "fall"})  # fmt: skip
        l8 = lead(session, "l8@eta.example", at(15, 9, month=10), "import", None)
        ids = {"ann": ann.id, "bob": bob.id, "l1": l1.id, "l2": l2.id, "l3": l3.id, "l4": l4.id,
               "l5": l5.id, "l6": l6.id, "l7": l7.id, "l8": l8.id}  # fmt: skip
    return {name: value for name, value in ids.items() if value is not None}
