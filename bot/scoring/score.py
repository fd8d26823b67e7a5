"""Behaviour score and profile grade of a lead, each with the reasons behind it.

The score is the sum of the points of the lead's behaviour events (timeline entries of the kinds
in rules.EVENT_KINDS), each halved for every half-life that has passed since it happened: a lead
that went quiet cools down. It is computed at read time from the timeline, so it is never stale
when shown; the stored `lead.score` is the value at the last event. The grade is fit to the ideal
customer profile: points per criterion added up and compared with the A/B/C thresholds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bot.leads.freemail import is_freemail
from bot.rules.file import EVENT_KINDS, GRADES, Grading, Rules, Scoring
from storage.models import Lead

SECONDS_PER_DAY = 86_400.0
SCORING_KINDS = frozenset(EVENT_KINDS.values())
_EVENT_NAMES = {kind: name for name, kind in EVENT_KINDS.items()}


class Event(Protocol):
    at: datetime
    kind: str


@dataclass(frozen=True)
class ScoredEvent:
    at: datetime
    kind: str
    points: float
    # What is left of the points after decay.
    value: float

    @property
    def name(self) -> str:
        return _EVENT_NAMES.get(self.kind, self.kind)


@dataclass(frozen=True)
class ScoreCard:
    score: float
    events: tuple[ScoredEvent, ...]
    half_life_days: float


@dataclass(frozen=True)
class GradeCard:
    grade: str
    points: float
    reasons: tuple[str, ...]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decayed(points: float, age_seconds: float, half_life_days: float) -> float:
    age = max(age_seconds, 0.0) / SECONDS_PER_DAY
    return points * 0.5 ** (age / half_life_days)


def score(events: Iterable[Event], scoring: Scoring, now: datetime) -> ScoreCard:
    now = _aware(now)
    scored = []
    for event in events:
        points = scoring.points.get(event.kind)
        if not points:
            continue
        at = _aware(event.at)
        value = decayed(points, (now - at).total_seconds(), scoring.half_life_days)
        scored.append(ScoredEvent(at, event.kind, points, value))
    total = round(sum(e.value for e in scored), 2)
    return ScoreCard(total, tuple(scored), scoring.half_life_days)


# --- grading ---------------------------------------------------------------------------------

_SENIORITY_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "executive",
        re.compile(
            r"\b(ceo|cto|cfo|coo|cmo|cio|cro|chief|founder|co-?founder|owner|president|"
            r"managing director|geschäftsführer|partner)\b",
            re.I,
        ),
    ),
    ("vp", re.compile(r"\b(vp|svp|evp|vice[- ]president)\b", re.I)),
    ("director", re.compile(r"\b(director|head of|head)\b", re.I)),
    ("manager", re.compile(r"\b(manager|lead|leiter|supervisor)\b", re.I)),
)


def seniority_of(title: str) -> str:
    for level, pattern in _SENIORITY_PATTERNS:
        if pattern.search(title or ""):
            return level
    return "individual"


@functools.lru_cache(maxsize=4096)
def company_size_of(text: str) -> int | None:
    """Employees as the lower bound of what the lead says: "51-200" → 51, "1,000+" → 1000."""
    found = re.search(r"\d[\d,.]*", text or "")
    if not found:
        return None
    digits = re.sub(r"[,.]", "", found.group(0))
    number = int(digits)
    if re.search(r"\d\s*k\b", text, re.I):
        number *= 1000
    return number


def _lookup(table: dict[str, float], value: str) -> tuple[str, float] | None:
    key = value.strip().lower()
    for name, points in table.items():
        if name != "*" and name.lower() == key:
            return name, points
    if "*" in table:
        return "*", table["*"]
    return None


def grade(lead: Lead, grading: Grading) -> GradeCard:
    reasons: list[str] = []
    total = 0.0

    def add(points: float, why: str) -> None:
        nonlocal total
        total += points
        reasons.append(f"{points:+g} {why}")

    size = company_size_of(lead.company_size)
    if size is not None and grading.company_size:
        band = [(minimum, p) for minimum, p in grading.company_size if size >= minimum]
        if band:
            add(band[-1][1], f"company size {lead.company_size} (≥{band[-1][0]})")
    elif grading.company_size:
        reasons.append("+0 company size unknown")
    for label, table, value in (
        ("industry", grading.industry, lead.industry),
        ("country", grading.country, lead.country.upper()),
    ):
        if value:
            found = _lookup(table, value)
            if found is not None:
                add(found[1], f"{label} {value}" + (" (any other)" if found[0] == "*" else ""))
        elif table:
            reasons.append(f"+0 {label} unknown")
    if grading.seniority:
        level = seniority_of(lead.title)
        shown = f"title {lead.title!r}" if lead.title else "no title"
        add(grading.seniority.get(level, 0.0), f"seniority {level} ({shown})")
    if grading.email:
        domain = lead.email.rpartition("@")[2]
        if domain and is_freemail(domain):
            add(grading.email.get("freemail", 0.0), f"free-mail address ({domain})")
        elif domain:
            add(grading.email.get("company", 0.0), f"company domain ({domain})")
    letter = "D"
    for candidate in GRADES[:3]:
        threshold = grading.thresholds.get(candidate)
        if threshold is not None and total >= threshold:
            letter = candidate
            break
    return GradeCard(letter, round(total, 2), tuple(reasons))


def grade_at_least(grade_letter: str | None, minimum: str) -> bool:
    if grade_letter not in GRADES:
        return False
    return GRADES.index(grade_letter) <= GRADES.index(minimum)


@dataclass(frozen=True)
class Evaluation:
    score: ScoreCard
    grade: GradeCard
    is_mql: bool
    enters_queue: bool
    reasons: tuple[str, ...]


# Events that are a hand raised (an enquiry by mail, a form posted): with
# mql.enquiries_enter_queue they reach sales whatever the score and grade.
HAND_RAISED = frozenset({EVENT_KINDS["enquiry"], EVENT_KINDS["form_post"]})


def evaluate(lead: Lead, events: Iterable[Event], rules: Rules, now: datetime) -> Evaluation:
    """Score, grade and marketing qualification of a lead, with the reasons."""
    events = list(events)
    card = score(events, rules.scoring, now)
    fit = grade(lead, rules.grading)
    mql = rules.mql
    score_ok = card.score >= mql.min_score
    grade_ok = grade_at_least(fit.grade, mql.min_grade)
    reasons = [
        f"score {card.score:g} {'≥' if score_ok else '<'} {mql.min_score:g}",
        f"grade {fit.grade} {'meets' if grade_ok else 'is below'} {mql.min_grade}",
    ]
    is_mql = score_ok and grade_ok
    # A web form's post is an inbound enquiry as much as an email is.
    enquired = any(e.kind in HAND_RAISED for e in events)
    enters_queue = is_mql or (mql.enquiries_enter_queue and enquired)
    if not is_mql and enters_queue:
        reasons.append("an inbound enquiry enters the queue directly (mql.enquiries_enter_queue)")
    elif not enters_queue and mql.enquiries_enter_queue:
        reasons.append("no inbound enquiry yet")
    elif not enters_queue and enquired:
        reasons.append(
            "an enquiry waits for the MQL thresholds (mql.enquiries_enter_queue = false)"
        )
    return Evaluation(card, fit, is_mql, enters_queue, tuple(reasons))
