"""Named queries over web forms: the forms, the submission queue, the limits' counts, and the
double opt-in mails (the hourly throttle per address is one conditional write)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.inserts import insert_ignoring
from storage.models import (
    ConfirmationThrottle,
    FormConfirmation,
    FormSubmission,
    IntakeRecord,
    Lead,
    WebForm,
    utcnow,
)

# --- forms ---------------------------------------------------------------------------------


def add_form(session: Session, form: WebForm) -> WebForm:
    """Store a new form; ValueError when the name is taken (the UNIQUE index decides)."""
    try:
        with session.begin_nested():
            session.add(form)
            session.flush()
    except IntegrityError:
        raise ValueError(f"a form named {form.name!r} exists already") from None
    return form


def form_by_name(session: Session, name: str) -> WebForm | None:
    return session.exec(select(WebForm).where(WebForm.name == name)).first()


def form_by_id(session: Session, form_id: int) -> WebForm | None:
    return session.get(WebForm, form_id)


def all_forms(session: Session) -> Sequence[WebForm]:
    return session.exec(select(WebForm).order_by(col(WebForm.id))).all()


def submission_counts(session: Session, form_id: int) -> dict[str, int]:
    query = (
        select(FormSubmission.state, func.count())
        .where(FormSubmission.form_id == form_id)
        .group_by(col(FormSubmission.state))
    )
    return {state: int(n) for state, n in session.exec(query).all()}


def lead_count(session: Session, form_id: int) -> int:
    query = select(func.count(func.distinct(FormSubmission.lead_id))).where(
        FormSubmission.form_id == form_id
    )
    return int(session.exec(query).one())


# --- submissions ---------------------------------------------------------------------------


def add_submission(session: Session, values: dict[str, Any]) -> int:
    """Store a submission as posted (column → value); its id. One INSERT, without the ORM's unit
    of work: this is the commit a visitor waits on. A nonce stored before (a replayed token) is
    kept too, with no nonce and `duplicate_of` naming the first: INSERT … ON CONFLICT DO NOTHING
    on the UNIQUE nonce decides, not a look-up, so two posts of one token racing each other
    store one fresh submission and one replay. The same values again (a double click) are a
    `duplicate`; other values get the reason `replay`."""
    table = FormSubmission.__table__  # type: ignore[attr-defined]
    values = {"state": "queued", "reasons": [], "received_at": utcnow(), **values}
    if values.get("nonce") is not None:
        new_id = insert_ignoring(
            session, table, values, conflict=["nonce"], returning="id"
        ).scalar()
        if new_id is not None:
            return int(new_id)
        first = session.execute(
            select(FormSubmission.id, FormSubmission.digest).where(
                FormSubmission.nonce == values["nonce"]
            )
        ).first()
        values = {**values, "nonce": None, "duplicate_of": first.id if first else None}
        if first is not None and first.digest == values.get("digest"):
            values.update(state="duplicate", processed_at=utcnow())
        else:
            used = f"#{first.id}" if first is not None else "before"
            reason = {"check": "replay", "detail": f"the form's token was used already ({used})"}
            values["reasons"] = [*values["reasons"], reason]
    return int(session.execute(sa_insert(table).returning(table.c.id), values).scalar_one())


def submission_by_id(session: Session, submission_id: int) -> FormSubmission | None:
    return session.get(FormSubmission, submission_id, populate_existing=True)


def claim_queued(session: Session, limit: int) -> Sequence[FormSubmission]:
    """The oldest queued submissions, locked for this transaction (SKIP LOCKED on PostgreSQL;
    SQLite's one writer holds the whole file anyway)."""
    query = (
        select(FormSubmission)
        .where(FormSubmission.state == "queued")
        .order_by(col(FormSubmission.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def submissions_of(
    session: Session, form_id: int, state: str | None = None, limit: int = 100
) -> Sequence[FormSubmission]:
    query = select(FormSubmission).where(FormSubmission.form_id == form_id)
    if state:
        query = query.where(FormSubmission.state == state)
    return session.exec(query.order_by(col(FormSubmission.id).desc()).limit(limit)).all()


def count_before(
    session: Session,
    submission: FormSubmission,
    column: str,
    value: object,
    since: datetime,
    cap: int,
) -> int:
    """Submissions stored before this one (lower id) with the same `column` value since a time,
    counted up to `cap`: what the per-IP, per-address and per-form limits count. Replays of a
    double click are not counted: they are one submission. The cap keeps a flood from making
    each of its submissions count all the others (50,000 posts from one client would otherwise
    read 50,000 rows each)."""
    params = {"value": value, "since": since, "before": submission.id, "cap": cap}
    return int(session.exec(_count_before(column), params=params).one())


@functools.lru_cache(maxsize=8)
def _count_before(column: str) -> Any:
    """The statement of `count_before` for one column, built once (it runs for every
    submission, once per limit)."""
    field = getattr(FormSubmission, column)
    rows = (
        select(col(FormSubmission.id))
        .where(field == bindparam("value"))
        .where(col(FormSubmission.received_at) >= bindparam("since"))
        .where(col(FormSubmission.id) < bindparam("before"))
        .where(FormSubmission.state != "duplicate")
        .limit(bindparam("cap"))
    )
    return select(func.count()).select_from(rows.subquery())


def mark(session: Session, submission: FormSubmission, state: str, **values: object) -> None:
    submission.state = state
    submission.processed_at = utcnow()
    for key, value in values.items():
        setattr(submission, key, value)
    session.add(submission)


def requeue(session: Session, submission_id: int) -> bool:
    result = session.execute(
        update(FormSubmission)
        .where(col(FormSubmission.id) == submission_id)
        .where(col(FormSubmission.state) == "quarantined")
        .values(state="queued", error=None, processed_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def quarantined(session: Session, limit: int = 1000) -> list[tuple[FormSubmission, str]]:
    """Submissions whose processing failed, oldest first, with their form's name."""
    query = (
        select(FormSubmission, WebForm.name)
        .join(WebForm, col(WebForm.id) == FormSubmission.form_id)
        .where(FormSubmission.state == "quarantined")
        .order_by(col(FormSubmission.id))
        .limit(limit)
    )
    return [(submission, name) for submission, name in session.exec(query).all()]


def reject_quarantined(session: Session, submission_id: int, by: str, note: str = "") -> bool:
    """Close a quarantined submission as rejected (kept, with who and why); False when it is
    not quarantined (any more)."""
    reason = {"check": "rejected", "detail": f"by {by}" + (f": {note}" if note else "")}
    submission = session.exec(
        select(FormSubmission)
        .where(col(FormSubmission.id) == submission_id)
        .where(col(FormSubmission.state) == "quarantined")
        .with_for_update()
    ).first()
    if submission is None:
        return False
    mark(session, submission, "rejected", reasons=[*submission.reasons, reason])
    return True


def done_of_lead(session: Session, lead_id: int) -> Sequence[FormSubmission]:
    """A lead's done submissions, oldest first (its first and last touch)."""
    query = (
        select(FormSubmission)
        .where(FormSubmission.lead_id == lead_id)
        .where(FormSubmission.state == "done")
        .order_by(col(FormSubmission.id))
    )
    return session.exec(query).all()


# --- double opt-in ---------------------------------------------------------------------------


def reserve_confirmation(session: Session, address: str, now: datetime, since: datetime) -> bool:
    """Whether a confirmation mail may go to `address` now: True once per address while its last
    one was sent before `since`. An INSERT that does nothing on a conflict, then one conditional
    UPDATE: of two workers racing, one moves the time forward and the other matches no row."""
    values = {"address": address, "last_sent_at": now}
    # RETURNING says whether the row was inserted (rowcount is not reliable for an upsert).
    inserted = insert_ignoring(session, ConfirmationThrottle.__table__, values,  # type: ignore[attr-defined]
                               conflict=["address"], returning="address").first()  # fmt: skip
    if inserted is not None:
        return True
    result = session.execute(
        update(ConfirmationThrottle)
        .where(col(ConfirmationThrottle.address) == address)
        .where(col(ConfirmationThrottle.last_sent_at) < since)
        .values(last_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def add_confirmation(session: Session, confirmation: FormConfirmation) -> FormConfirmation:
    session.add(confirmation)
    session.flush()
    return confirmation


def pending_confirmations(session: Session, limit: int = 50) -> Sequence[FormConfirmation]:
    query = (
        select(FormConfirmation)
        .where(FormConfirmation.state == "pending")
        .order_by(col(FormConfirmation.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.exec(query).all()


def has_pending_confirmations(session: Session) -> bool:
    query = select(FormConfirmation.id).where(FormConfirmation.state == "pending").limit(1)
    return session.exec(query).first() is not None


def confirmations_to(session: Session, address: str) -> Sequence[FormConfirmation]:
    query = select(FormConfirmation).where(FormConfirmation.address == address)
    return session.exec(query.order_by(col(FormConfirmation.id))).all()


def lead_for_update(session: Session, lead_id: int) -> Lead | None:
    query = select(Lead).where(Lead.id == lead_id).with_for_update()
    return session.exec(query).first()


def decided_holds(
    session: Session, limit: int = 100
) -> Sequence[tuple[FormSubmission, IntakeRecord]]:
    """Held submissions whose hold a person decided (`intake approve` / `reject`) since."""
    query = (
        select(FormSubmission, IntakeRecord)
        .join(IntakeRecord, col(IntakeRecord.id) == col(FormSubmission.intake_record_id))
        .where(FormSubmission.state == "held")
        .where(col(IntakeRecord.state).in_(("approved", "rejected")))
        .order_by(col(FormSubmission.id))
        .limit(limit)
    )
    return [(sub, record) for sub, record in session.exec(query).all()]
