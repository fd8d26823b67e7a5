"""Working hours, working days, out-of-office dates and time zones, as a rep's row writes them.

These are text on the rep (`leadbot reps set --hours 09:00-17:00 --days mon-fri --tz …`), so
they are parsed in one place that both the CLI (to refuse a bad value when it is set) and the
availability check (on every decision) use; the parses are cached because one batch of
decisions reads the same few strings thousands of times.
"""

from __future__ import annotations

import functools
import re
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@functools.lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone named; an unknown name is a ValueError that says how to write one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name: Europe/Berlin)") from None


@functools.lru_cache(maxsize=512)
def parse_hours(text: str) -> tuple[time, time]:
    """ "09:00-17:30" → (09:00, 17:30); an end before the start runs past midnight."""
    found = re.fullmatch(r"\s*(\d{1,2}):?(\d{2})?\s*-\s*(\d{1,2}):?(\d{2})?\s*", text)
    if not found:
        raise ValueError(f"working hours {text!r}: write them as 09:00-17:00")
    h1, m1, h2, m2 = found.groups()
    start_h, end_h = int(h1), int(h2)
    if start_h > 23 or end_h > 24:
        raise ValueError(f"working hours {text!r}: hours run 0-24")
    start = time(start_h, int(m1 or 0))
    end = time.max if end_h == 24 else time(end_h, int(m2 or 0))
    return start, end


@functools.lru_cache(maxsize=512)
def parse_days(text: str) -> frozenset[int]:
    """ "mon-fri" or "mon,wed,fri" → weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in re.split(r"[,\s]+", text.strip().lower()):
        if not part:
            continue
        ends = part.split("-")
        if any(end[:3] not in DAY_NAMES for end in ends) or len(ends) > 2:
            raise ValueError(f"working days {text!r}: use mon,tue,… or mon-fri")
        first, last = DAY_NAMES.index(ends[0][:3]), DAY_NAMES.index(ends[-1][:3])
        span = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        days.update(span)
    return frozenset(days)


@functools.lru_cache(maxsize=2048)
def parse_absence(text: str) -> tuple[date, date]:
    """ "2026-12-24" or "2026-12-24..2027-01-02" → (first, last) day, both included."""
    first, _, last = text.strip().partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if last else start
    except ValueError:
        raise ValueError(
            f"out-of-office {text!r}: use 2026-12-24 or 2026-12-24..2027-01-02"
        ) from None
    if end < start:
        raise ValueError(f"out-of-office {text!r}: the range ends before it starts")
    return start, end
