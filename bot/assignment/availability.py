"""A rep as the decision sees them (`RepView`), and whether they can take a lead now.

Availability (active, paused, out of office, working days and hours in the rep's own zone) is
a concern of its own: the decision asks it first for every rep in a pool, `assign explain`
prints its answer, and one batch decides many leads at one `now`, so the answer is kept on the
view. The snapshot lives here, not in the decision, because the cache is part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.assignment.hours import DAY_NAMES, parse_absence, parse_days, parse_hours, zone
from storage.models import Rep


@dataclass
class RepView:
    """What a decision needs of a rep; the Assigner keeps these between decisions."""

    id: int
    name: str
    email: str
    role: str = "rep"
    active: bool = True
    paused: bool = False
    capacity: int = 50
    timezone: str = "UTC"
    working_hours: str = ""
    working_days: str = ""
    out_of_office: tuple[str, ...] = ()
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    territories: frozenset[str] = frozenset()
    weight: int = 1
    last_assigned_at: datetime | None = None
    load: int = 0
    recent_offers: int = 0
    # (now, why unavailable): one batch decides many leads at one `now`.
    availability: tuple[datetime, str | None] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, rep: Rep, load: int = 0, recent_offers: int = 0) -> RepView:
        assert rep.id is not None
        return cls(
            id=rep.id,
            name=rep.name,
            email=rep.email,
            role=rep.role,
            active=rep.active,
            paused=rep.paused,
            capacity=rep.capacity,
            timezone=rep.timezone or "UTC",
            working_hours=rep.working_hours or "",
            working_days=rep.working_days or "",
            out_of_office=tuple(rep.out_of_office or ()),
            skills=frozenset(s.lower() for s in rep.skills or ()),
            languages=frozenset(s.lower() for s in rep.languages or ()),
            territories=frozenset(s.lower() for s in rep.territories or ()),
            weight=max(rep.weight, 1),
            last_assigned_at=rep.last_assigned_at,
            load=load,
            recent_offers=recent_offers,
        )


def unavailable(rep: RepView, now: datetime) -> str | None:
    """Why the rep cannot take a lead now (paused, out of office, off hours), or None."""
    if rep.availability is not None and rep.availability[0] == now:
        return rep.availability[1]
    reason = _unavailable(rep, now)
    rep.availability = (now, reason)
    return reason


def _unavailable(rep: RepView, now: datetime) -> str | None:
    if not rep.active:
        return "inactive"
    if rep.paused:
        return "paused"
    local = now.astimezone(zone(rep.timezone))
    today = local.date()
    for entry in rep.out_of_office:
        start, end = parse_absence(entry)
        if start <= today <= end:
            return f"out of office {entry}"
    if rep.working_days and local.weekday() not in parse_days(rep.working_days):
        return f"not a working day ({DAY_NAMES[local.weekday()]} in {rep.timezone})"
    if rep.working_hours:
        start, end = parse_hours(rep.working_hours)
        clock = local.time()
        inside = start <= clock < end if start <= end else (clock >= start or clock < end)
        if not inside:
            return (
                f"outside working hours {rep.working_hours} "
                f"({local:%H:%M} {DAY_NAMES[local.weekday()]} in {rep.timezone})"
            )
    return None
