"""How much of a span of time fell in a rep's working hours: speed to lead counted as the rep
lives it (a lead that arrived on Friday evening and was answered on Monday at nine waited
minutes, not days). The hours, days, zone and absences are the rep's row, parsed by
bot/assignment/hours.py as availability parses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.assignment import hours


@dataclass(frozen=True)
class WorkingTime:
    """A rep's week, as text on their row; empty hours or days mean always."""

    timezone: str = "UTC"
    working_hours: str = ""
    working_days: str = ""
    out_of_office: tuple[str, ...] = ()

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end] (both aware); 0 when end is not after start."""
        if end <= start:
            return 0.0
        zone = hours.zone(self.timezone or "UTC")
        begin, until = self._hours()
        days = hours.parse_days(self.working_days) if self.working_days else frozenset(range(7))
        absent = [hours.parse_absence(text) for text in self.out_of_office]
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        total = 0.0
        # Start a day early: a shift that runs past midnight began the day before.
        day = local_start.date() - timedelta(days=1)
        while day <= local_end.date():
            if day.weekday() in days and not any(a <= day <= b for a, b in absent):
                for open_at, close_at in _shifts(day, begin, until, zone):
                    lo, hi = max(open_at, start), min(close_at, end)
                    if hi > lo:
                        total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def _hours(self) -> tuple[time, time]:
        if not self.working_hours:
            return time(0), time.max
        return hours.parse_hours(self.working_hours)


def _shifts(day: date, begin: time, until: time, zone) -> list[tuple[datetime, datetime]]:  # type: ignore[no-untyped-def]
    """The working span that starts on `day`, as aware instants (past midnight when it ends
    before it starts; "all day" runs to the next midnight)."""
    opens = datetime.combine(day, begin, zone)
    if until == time.max:
        closes = datetime.combine(day + timedelta(days=1), time(0), zone)
    elif until <= begin:
        closes = datetime.combine(day + timedelta(days=1), until, zone)
    else:
        closes = datetime.combine(day, until, zone)
    return [(opens, closes)]
