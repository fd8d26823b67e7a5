"""Retention: the `[retention]` table of the rules file, and what each of its rules removes.

    [retention]
    raw_mail_days = 90        # raw bytes of processed mail (the parsed lead and timeline stay)
    tracking_months = 24      # opens, clicks and opt-out events of nurture emails
    quarantine_days = 30      # held captures and quarantined mails nobody approved
    trashed_days = 180        # trashed leads' personal data (they become tombstones)
    stale_months = 18         # open leads with no activity are marked stale …
    stale_erase_days = 60     # … and erased this long after, if nothing happened since

A key left out is a rule that does not run. `run` plans every rule against a clock (`now`),
counts what it would remove and, unless `dry_run`, removes it in the caller's transaction.
A month is 30 days.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

import storage.personal_data
import storage.privacy
from bot.leads.refs import lead_label
from bot.privacy import erase as erasing
from bot.privacy.subject import Subject
from bot.rules.checks import Invalid

DAYS = {
    "raw_mail_days": 1,
    "tracking_months": 30,
    "quarantine_days": 1,
    "trashed_days": 1,
    "stale_months": 30,
    "stale_erase_days": 1,
}


@dataclass(frozen=True)
class RetentionRules:
    periods: Mapping[str, timedelta]

    @classmethod
    def from_table(cls, table: Mapping[str, Any] | None) -> RetentionRules:
        """The rules of a `[retention]` table; Invalid (with the key) for a bad one."""
        periods: dict[str, timedelta] = {}
        for key, value in (table or {}).items():
            if key not in DAYS:
                known = ", ".join(DAYS)
                raise Invalid(("retention", key), f"unknown key (known: {known})")
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise Invalid(("retention", key), f"must be a number above 0, not {value!r}")
            periods[key] = timedelta(days=float(value) * DAYS[key])
        return cls(periods)


@dataclass(frozen=True)
class Outcome:
    rule: str
    count: int
    what: str


def run(session: Session, rules: RetentionRules, now: datetime, *, dry_run: bool) -> list[Outcome]:
    """Every rule the table sets, in a fixed order, with how many records it removes(d)."""
    outcomes = []
    for key, (rule, what) in RULES.items():
        period = rules.periods.get(key)
        if period is None:
            continue
        count = rule(session, now - period, now, rules, dry_run)
        outcomes.append(Outcome(key, count, what))
    return outcomes


def _raw_mail(session: Session, before: datetime, now: datetime, rules: RetentionRules,
              dry_run: bool) -> int:  # fmt: skip
    messages = storage.privacy.raw_mail_older_than(session, before)
    if not dry_run:
        for message in messages:
            message.raw = b""
            session.add(message)
        session.flush()
    return len(messages)


def _tracking(session: Session, before: datetime, now: datetime, rules: RetentionRules,
              dry_run: bool) -> int:  # fmt: skip
    events = storage.privacy.tracking_older_than(session, before)
    if not dry_run:
        storage.privacy.delete_rows(session, events)
    return len(events)


def _quarantine(session: Session, before: datetime, now: datetime, rules: RetentionRules,
                dry_run: bool) -> int:  # fmt: skip
    holds, mails = storage.privacy.quarantined_older_than(session, before)
    if not dry_run:
        storage.privacy.delete_rows(session, holds)
        for mail in mails:
            assert mail.id is not None
            storage.privacy.detach_message(session, mail.id)
        storage.privacy.delete_rows(session, mails)
    return len(holds) + len(mails)


def _erase_leads(session: Session, lead_ids: list[int], rule: str) -> None:
    for lead_id in lead_ids:
        ids = storage.personal_data.aliases(session, {lead_id})
        subject = Subject(lead_label(lead_id), frozenset(ids), frozenset())
        erasing.erase(
            session,
            subject,
            actor=f"retention:{rule}",
            reason=f"retention rule {rule}",
            suppress=False,
            action="retention",
        )


def _trashed(session: Session, before: datetime, now: datetime, rules: RetentionRules,
             dry_run: bool) -> int:  # fmt: skip
    leads = [lead.id for lead in storage.privacy.trashed_before(session, before)]
    ids = [lead_id for lead_id in leads if lead_id is not None]
    if not dry_run:
        _erase_leads(session, ids, "trashed_days")
    return len(ids)


def _stale(session: Session, before: datetime, now: datetime, rules: RetentionRules,
           dry_run: bool) -> int:  # fmt: skip
    leads = storage.privacy.inactive_before(session, before)
    if not dry_run:
        for lead in leads:
            lead.stale_since = now
            session.add(lead)
        session.flush()
    return len(leads)


def _stale_erase(session: Session, before: datetime, now: datetime, rules: RetentionRules,
                 dry_run: bool) -> int:  # fmt: skip
    """Stale leads nothing happened to since they were marked: erased; those with activity
    since are fresh again (the mark is taken off, not counted)."""
    due: list[int] = []
    for lead in storage.privacy.stale(session):
        assert lead.stale_since is not None and lead.id is not None
        if lead.last_activity_at > lead.stale_since:
            if not dry_run:
                lead.stale_since = None
                session.add(lead)
        elif lead.stale_since < before:
            due.append(lead.id)
    if not dry_run:
        _erase_leads(session, due, "stale_erase_days")
    return len(due)


Rule = Callable[[Session, datetime, datetime, RetentionRules, bool], int]
RULES: dict[str, tuple[Rule, str]] = {
    "raw_mail_days": (_raw_mail, "raw bytes of processed mail"),
    "tracking_months": (_tracking, "tracking events (opens, clicks, opt-outs)"),
    "quarantine_days": (_quarantine, "held captures and quarantined mails"),
    "trashed_days": (_trashed, "trashed leads erased (tombstones kept)"),
    "stale_erase_days": (_stale_erase, "stale leads erased after no answer"),
    "stale_months": (_stale, "open leads marked stale"),
}
