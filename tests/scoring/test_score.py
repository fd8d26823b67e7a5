"""Behaviour score with decay, fit grade, and marketing qualification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.rules.file import parse_rules
from bot.scoring.score import company_size_of, evaluate, grade, score, seniority_of
from storage.models import Lead

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RULES = parse_rules(
    """
[scoring]
half_life_days = 10
[scoring.points]
enquiry = 20
reply = 10
open = 2
click = 4
form_post = 8
page_visit = 1

[grading]
thresholds = { A = 60, B = 40, C = 20 }
company_size = { 1 = 0, 50 = 10, 500 = 25 }
seniority = { executive = 20, director = 12, manager = 6, individual = 0 }
email = { company = 10, freemail = -15 }
industry = { software = 15, banking = 10, "*" = 2 }
country = { DE = 5, US = 5 }

[mql]
min_score = 25
min_grade = "B"
enquiries_enter_queue = false
""",
    "test",
)


@dataclass
class Event:
    kind: str
    at: datetime


def lead(**fields: str) -> Lead:
    values = {"email": "jane@acme-robotics.io", "reply_token": "t"}
    values.update(fields)
    return Lead(**values)  # type: ignore[arg-type]


def test_each_behaviour_counts_its_points() -> None:
    kinds = ["email.enquiry", "email.reply", "email.opened", "email.clicked", "form.post",
             "page.visit", "note", "email.bounce", "assigned"]  # fmt: skip
    card = score([Event(kind, NOW) for kind in kinds], RULES.scoring, NOW)
    assert card.score == 20 + 10 + 2 + 4 + 8 + 1
    assert [e.name for e in card.events] == ["enquiry", "reply", "open", "click", "form_post",
                                             "page_visit"]  # fmt: skip


def test_points_halve_every_half_life() -> None:
    events = [Event("email.enquiry", NOW - timedelta(days=10)),
              Event("email.enquiry", NOW - timedelta(days=20)),
              Event("email.reply", NOW - timedelta(days=5))]  # fmt: skip
    card = score(events, RULES.scoring, NOW)
    assert [round(e.value, 3) for e in card.events] == [10.0, 5.0, round(10 * 0.5**0.5, 3)]
    assert card.score == round(10 + 5 + 10 * 0.5**0.5, 2)
    # A lead that went quiet cools down.
    later = score(events, RULES.scoring, NOW + timedelta(days=30))
    assert later.score == pytest.approx(card.score / 8, abs=0.01)


def test_a_future_event_is_worth_its_points_not_more() -> None:
    assert score([Event("email.reply", NOW + timedelta(hours=1))], RULES.scoring, NOW).score == 10


@pytest.mark.parametrize(
    ("title", "level"),
    [("CEO", "executive"), ("Co-Founder & CTO", "executive"), ("VP Sales", "vp"),
     ("Head of Operations", "director"), ("Director of IT", "director"),
     ("Sales Manager", "manager"), ("Team Lead Platform", "manager"), ("Engineer", "individual"),
     ("", "individual")],
)  # fmt: skip
def test_seniority_from_the_title(title: str, level: str) -> None:
    assert seniority_of(title) == level


@pytest.mark.parametrize(
    ("text", "size"),
    [("51-200", 51), ("1,000+", 1000), ("10k", 10000), ("about 40 people", 40), ("", None),
     ("many", None)],
)  # fmt: skip
def test_company_size_is_the_lower_bound(text: str, size: int | None) -> None:
    assert company_size_of(text) == size


def test_grade_adds_fit_points_per_criterion() -> None:
    card = grade(lead(company_size="501-1000", industry="Software", country="de",
                      title="Head of Operations"), RULES.grading)  # fmt: skip
    assert card.points == 25 + 15 + 5 + 12 + 10
    assert card.grade == "A"
    assert card.reasons == (
        "+25 company size 501-1000 (≥500)",
        "+15 industry Software",
        "+5 country DE",
        "+12 seniority director (title 'Head of Operations')",
        "+10 company domain (acme-robotics.io)",
    )


def test_free_mail_and_unknowns_grade_low() -> None:
    card = grade(lead(email="jane@gmail.com", industry="Retail"), RULES.grading)
    assert card.points == 2 + 0 - 15
    assert card.grade == "D"
    assert "-15 free-mail address (gmail.com)" in card.reasons
    assert "+2 industry Retail (any other)" in card.reasons
    assert "+0 company size unknown" in card.reasons and "+0 country unknown" in card.reasons


@pytest.mark.parametrize(
    ("points", "letter"), [(60, "A"), (59, "B"), (40, "B"), (39, "C"), (20, "C"), (19, "D")]
)
def test_grade_thresholds(points: int, letter: str) -> None:
    rules = parse_rules(
        f"[grading]\nthresholds = {{ A = 60, B = 40, C = 20 }}\nemail = {{ company = {points} }}",
        "t",
    )
    assert grade(lead(), rules.grading).grade == letter


def test_an_mql_needs_score_and_grade() -> None:
    fit = lead(company_size="600", industry="software", title="CEO")  # grade A
    hot = [Event("email.enquiry", NOW), Event("email.reply", NOW)]
    assert evaluate(fit, hot, RULES, NOW).is_mql
    cold = evaluate(fit, [Event("email.enquiry", NOW - timedelta(days=30))], RULES, NOW)
    assert not cold.is_mql and not cold.enters_queue
    assert cold.reasons[0] == "score 2.5 < 25"
    poor_fit = evaluate(lead(email="x@gmail.com"), hot, RULES, NOW)
    assert not poor_fit.is_mql
    assert poor_fit.reasons[1] == "grade D is below B"


def test_enquiries_may_enter_the_queue_directly() -> None:
    rules = parse_rules(
        "[mql]\nmin_score = 1000\nenquiries_enter_queue = true\n"
        "[scoring.points]\nenquiry = 1\npage_visit = 1",
        "t",
    )
    enquired = evaluate(lead(), [Event("email.enquiry", NOW)], rules, NOW)
    assert enquired.enters_queue and not enquired.is_mql
    assert "enters the queue directly" in enquired.reasons[-1]
    visited = evaluate(lead(), [Event("page.visit", NOW)], rules, NOW)
    assert not visited.enters_queue
