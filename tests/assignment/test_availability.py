"""Whether a rep can take a lead now: paused, out of office, working days and hours, all read
in the rep's own time zone."""

from __future__ import annotations

import pytest

from bot.assignment.availability import unavailable
from tests.assignment.helpers import NOW, rep


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"timezone": "Europe/Berlin", "working_hours": "09:00-17:00"}, None),
        ({"timezone": "America/New_York", "working_hours": "09:00-17:00"}, None),
        ({"timezone": "America/Los_Angeles", "working_hours": "09:00-17:00"},
         "outside working hours 09:00-17:00 (06:00 mon in America/Los_Angeles)"),
        ({"timezone": "Asia/Tokyo", "working_hours": "09:00-17:00"},
         "outside working hours 09:00-17:00 (23:00 mon in Asia/Tokyo)"),
        ({"timezone": "Asia/Tokyo", "working_hours": "22:00-06:00"}, None),  # a night shift
        ({"timezone": "Asia/Tokyo", "working_days": "tue-sat"},
         "not a working day (mon in Asia/Tokyo)"),
        ({"timezone": "Pacific/Auckland", "working_days": "mon-fri"}, None),  # Tuesday 03:00 there
        ({"timezone": "Pacific/Auckland", "working_days": "mon"},
         "not a working day (tue in Pacific/Auckland)"),
        ({"out_of_office": ("2026-11-23",)}, "out of office 2026-11-23"),
        ({"out_of_office": ("2026-11-20..2026-11-30",)}, "out of office 2026-11-20..2026-11-30"),
        ({"out_of_office": ("2026-11-24",)}, None),
        # A holiday is a date in the rep's own zone: in Tokyo it is already the 24th.
        ({"timezone": "Asia/Tokyo", "out_of_office": ("2026-11-24",)}, None),
        ({"timezone": "Pacific/Auckland", "out_of_office": ("2026-11-24",)},
         "out of office 2026-11-24"),
        ({"paused": True}, "paused"),
    ],
)  # fmt: skip
def test_availability_in_the_reps_own_time_zone(fields: dict, reason: str | None) -> None:
    assert unavailable(rep(1, **fields), NOW) == reason


def test_working_hours_end_is_exclusive_and_24_means_midnight() -> None:
    at_five = NOW.replace(hour=17)
    assert unavailable(rep(1, working_hours="09:00-17:00"), at_five) is not None
    assert unavailable(rep(1, working_hours="0-24"), at_five) is None
