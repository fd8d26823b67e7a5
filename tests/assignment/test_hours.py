"""Working hours, working days, out-of-office dates and time zones as a rep's row writes them."""

from __future__ import annotations

import re
from datetime import date, time

import pytest

from bot.assignment.hours import parse_absence, parse_days, parse_hours, zone


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("09:00-17:30", (time(9, 0), time(17, 30))),
        (" 7:30 - 18 ", (time(7, 30), time(18, 0))),
        ("22:00-06:00", (time(22, 0), time(6, 0))),  # a night shift runs past midnight
        ("0-24", (time(0, 0), time.max)),  # 24 is the end of the day
    ],
)
def test_working_hours(text: str, hours: tuple[time, time]) -> None:
    assert parse_hours(text) == hours


@pytest.mark.parametrize(
    ("text", "error"),
    [("9 to 5", "write them as 09:00-17:00"), ("25-3", "hours run 0-24")],
)
def test_bad_working_hours_say_how_to_write_them(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_hours(text)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon,wed", {0, 2}),
        ("Monday", {0}),
        ("fri-mon", {4, 5, 6, 0}),  # a range may wrap over the weekend
        ("", set()),
    ],
)
def test_working_days(text: str, days: set[int]) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["xyz", "mon-tue-wed"])
def test_bad_working_days_say_how_to_write_them(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape("use mon,tue,… or mon-fri")):
        parse_days(text)


def test_absences_are_a_day_or_a_range_both_ends_included() -> None:
    assert parse_absence("2026-12-24") == (date(2026, 12, 24), date(2026, 12, 24))
    assert parse_absence(" 2026-12-24..2027-01-02") == (date(2026, 12, 24), date(2027, 1, 2))
    with pytest.raises(ValueError, match="the range ends before it starts"):
        parse_absence("2027-01-02..2026-12-24")
    with pytest.raises(ValueError, match=re.escape("use 2026-12-24 or 2026-12-24..2027-01-02")):
        parse_absence("next week")


def test_time_zones_are_iana_names() -> None:
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    with pytest.raises(ValueError, match="use an IANA name"):
        zone("Nowhere/Land")
