"""Who gets a lead: rules (first match wins) → candidate reps → filters → strategy.

`decide` is pure: given a lead, the rules and a snapshot of the reps (`RepView`: availability,
load, last assignment), it returns a Decision that says which rule matched, every rep that was
considered and why each was skipped, and the rep chosen. `leadbot assign explain` prints it.

`Assigner` runs the queue inside `leadbot serve` (and `leadbot assign run`): it scores the leads
whose behaviour changed and queues the MQLs (bot.scoring.qualification), offers waiting leads to
reps, and moves an offer on to the next rep when its response time (SLA) lapses, telling the
manager. Each decision is one transaction: the queue row is claimed (SKIP LOCKED), the chosen
rep's row locked while its open leads are counted, so neither a lead nor a rep's last free place
is ever given twice. `now` comes from an injected clock, so tests can move time.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time as time_module
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

import storage.assignment
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.leads.refs import lead_label
from bot.rules.file import AssignmentRule, Rules
from bot.scoring import qualification
from bot.scoring.score import company_size_of
from storage.engine import Store
from storage.models import Assignment, Lead, QueueItem, Rep, utcnow

log = logging.getLogger(__name__)

ACTOR = "assignment"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Weighted round robin balances the offers of this period.
WEIGHT_WINDOW = timedelta(days=7)
# Tries to place one lead when another worker changed the chosen rep meanwhile.
MAX_RETRIES = 20
# Why a rep who let this lead's response time lapse is passed over.
LAPSED = "let the response time lapse on this lead already"


# --- reps as the decision sees them -----------------------------------------------------------


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


@functools.lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
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


# --- rules ---------------------------------------------------------------------------------


def _lower(value: str | None) -> str:
    return (value or "").strip().lower()


@dataclass(frozen=True)
class LeadFacts:
    """What the conditions read of a lead, worked out once per decision."""

    lead: Lead
    values: dict[str, str]
    territories: frozenset[str]
    size: int | None
    enquiry: str

    @classmethod
    def of(cls, lead: Lead, rules: Rules) -> LeadFacts:
        values = {key: _lower(getattr(lead, key, "")) for key in
                  ("country", "language", "industry", "source")}  # fmt: skip
        values["grade"] = _lower(lead.grade)
        values["product"] = _lower((lead.custom or {}).get("product"))
        return cls(
            lead,
            values,
            frozenset(rules.territories_of(lead.country)),
            company_size_of(lead.company_size),
            _lower(lead.enquiry),
        )


@functools.lru_cache(maxsize=1024)
def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(name)}\b")


def passes(facts: LeadFacts, key: str, wanted: object) -> bool:
    """Whether the lead meets one condition of a rule (the hot path: no reasons)."""
    if key == "company_size_min":
        return facts.size is not None and facts.size >= wanted  # type: ignore[operator]
    if key == "company_size_max":
        return facts.size is not None and facts.size <= wanted  # type: ignore[operator]
    assert isinstance(wanted, frozenset)
    if key == "territory":
        return not facts.territories.isdisjoint(wanted)
    if key == "product":
        return facts.values["product"] in wanted or (
            bool(facts.enquiry) and any(_word(name).search(facts.enquiry) for name in wanted)
        )
    return facts.values[key] in wanted


def failure_reason(facts: LeadFacts, key: str, wanted: object) -> str:
    """Why the lead fails a condition it does not meet (`assign explain`)."""
    lead = facts.lead
    if key in ("company_size_min", "company_size_max"):
        if facts.size is None:
            return "company size unknown"
        sign = "<" if key == "company_size_min" else ">"
        return f"company size {lead.company_size} {sign} {wanted}"
    assert isinstance(wanted, frozenset)
    allowed = ", ".join(sorted(wanted))
    if key == "territory":
        return f"country {lead.country or 'unknown'} is not in territory {allowed}"
    if key == "product":
        return f"asks about none of {allowed}"
    return f"{key} {facts.values[key] or 'unknown'} is not {allowed}"


def match_rule(
    lead: Lead, rules: Rules, *, explain: bool = False
) -> tuple[AssignmentRule | None, tuple[str, ...]]:
    """The first rule whose conditions the lead meets; with `explain`, also why each earlier
    rule did not match."""
    facts = LeadFacts.of(lead, rules)
    missed: list[str] = []
    for rule in rules.rules:
        for key, wanted in rule.when.items():
            if not passes(facts, key, wanted):
                if explain:
                    missed.append(f"rule {rule.name!r}: {failure_reason(facts, key, wanted)}")
                break
        else:
            return rule, tuple(missed)
    return None, tuple(missed)


# --- one decision --------------------------------------------------------------------------


@dataclass(frozen=True)
class Considered:
    rep: RepView
    # None: eligible. Else why it was skipped.
    skipped: str | None


@dataclass(frozen=True)
class Decision:
    rule: AssignmentRule | None
    rules_missed: tuple[str, ...]
    # The rule's reps and, side by side, why each was skipped (None: eligible). Kept as two
    # tuples, not objects per rep: a decision runs per lead, and fewer allocations mean fewer
    # pauses of the garbage collector in the middle of one.
    pool: tuple[RepView, ...]
    skipped: tuple[str | None, ...]
    chosen: RepView | None
    why: str

    @property
    def considered(self) -> tuple[Considered, ...]:
        return tuple(Considered(rep, why) for rep, why in zip(self.pool, self.skipped, strict=True))

    @property
    def eligible(self) -> list[RepView]:
        return [rep for rep, why in zip(self.pool, self.skipped, strict=True) if why is None]


def pool_of(rule: AssignmentRule, reps: Iterable[RepView]) -> tuple[list[RepView], list[str]]:
    """The rule's reps (in the rule's order for a pool), and the emails that name no rep."""
    if rule.rep is not None or not rule.pool_is_everyone:
        by_email = {rep.email: rep for rep in reps}
        wanted = (rule.rep,) if rule.rep is not None else rule.pool
        return [by_email[e] for e in wanted if e in by_email], [
            e for e in wanted if e not in by_email
        ]
    return [rep for rep in reps if rep.role == "rep"], []


def skip_reason(
    rep: RepView,
    lead: Lead,
    rule: AssignmentRule,
    rules: Rules,
    now: datetime,
    tried: frozenset[int] = frozenset(),
) -> str | None:
    reason = unavailable(rep, now)
    if reason:
        return reason
    if rep.id in tried:
        return LAPSED
    if rep.load >= rep.capacity:
        return f"at capacity ({rep.load}/{rep.capacity} open leads)"
    missing = [skill for skill in rule.skills if skill not in rep.skills]
    if missing:
        return f"lacks skill {', '.join(missing)}"
    language = _lower(lead.language)
    if rule.match_language and language and rep.languages and language not in rep.languages:
        return f"does not speak {language} ({', '.join(sorted(rep.languages))})"
    if rule.match_territory:
        places = {_lower(lead.country), *(t.lower() for t in rules.territories_of(lead.country))}
        if not rep.territories & places:
            covers = ", ".join(sorted(rep.territories)) or "no territory"
            return f"covers {covers}, not {lead.country or 'an unknown country'}"
    return None


def choose(eligible: Iterable[RepView], strategy: str, rng: random.Random) -> RepView | None:
    """The strategy's pick. Ties are broken by who was assigned least recently, then by chance
    (each tied rep equally likely): never by id, name or seniority."""
    best: RepView | None = None
    best_first = best_second = 0.0
    ties = 0
    for rep in eligible:
        last = rep.last_assigned_at.timestamp() if rep.last_assigned_at else 0.0
        if strategy == "least_loaded":
            first, second = rep.load / max(rep.capacity, 1), last
        elif strategy == "weighted_round_robin":
            first, second = (rep.recent_offers + 1) / rep.weight, last
        else:
            first, second = last, 0.0
        if best is None or first < best_first or (first == best_first and second < best_second):
            best, best_first, best_second, ties = rep, first, second, 1
        elif first == best_first and second == best_second:
            ties += 1
            if rng.random() * ties < 1:
                best = rep
    return best


def decide(
    lead: Lead,
    rules: Rules,
    reps: Iterable[RepView],
    now: datetime,
    *,
    tried: Iterable[int] = (),
    rng: random.Random | None = None,
    explain: bool = False,
) -> Decision:
    rng = rng or random.Random()
    rule, missed = match_rule(lead, rules, explain=explain)
    if rule is None:
        return Decision(None, missed, (), (), None, "no assignment rule matches")
    pool, unknown = pool_of(rule, reps)
    tried_set = frozenset(tried)
    skipped = [skip_reason(rep, lead, rule, rules, now, tried_set) for rep in pool]
    if tried_set and None not in skipped and LAPSED in skipped:
        # Everyone who could take it has let it lapse once: start the round again.
        skipped = [skip_reason(rep, lead, rule, rules, now) for rep in pool]
    eligible = [rep for rep, why in zip(pool, skipped, strict=True) if why is None]
    notes = [f"no rep {email} (see leadbot reps list)" for email in unknown]
    # The owner of the lead's company account (de-duplication proposes them) comes first, when
    # the rule lets them take it: no second rep cold-calls a customer.
    owner = next((rep for rep in eligible if rep.id == lead.proposed_owner_id), None)
    chosen = owner or choose(eligible, rule.strategy, rng)
    if chosen is None:
        why = "no rep can take it now; it waits in the queue"
    elif owner is not None:
        why = f"{owner.name} owns the company's account"
    else:
        why = f"{rule.strategy.replace('_', ' ')} among {len(eligible)} of {len(pool)} reps"
    return Decision(rule, missed, tuple(pool), tuple(skipped), chosen, "; ".join([why, *notes]))


def explain_text(lead: Lead, decision: Decision, item: QueueItem | None) -> str:
    """`leadbot assign explain`: the rule, each rep considered and why it was skipped."""
    lines = [f"{lead_label(lead.id)} {lead.email}"]
    if item is not None:
        state = item.state
        if item.state == "offered" and item.due_at:
            state += f" (respond by {item.due_at:%Y-%m-%d %H:%M} UTC)"
        lines.append(f"queue: {state}, {item.hops} hops")
    else:
        lines.append("queue: not queued (not an MQL yet)")
    for missed in decision.rules_missed:
        lines.append(f"  skipped {missed}")
    if decision.rule is None:
        lines.append("no assignment rule matches")
        return "\n".join(lines)
    from bot.rules.file import describe_rule

    lines.append(f"rule {decision.rule.name!r} matches: {describe_rule(decision.rule)}")
    lines.append("reps considered:")
    for considered in decision.considered:
        rep = considered.rep
        state = f"skipped: {considered.skipped}" if considered.skipped else "eligible"
        if decision.chosen is not None and rep.id == decision.chosen.id:
            state = "chosen"
        lines.append(f"  R-{rep.id} {rep.name} <{rep.email}> ({rep.load}/{rep.capacity}): {state}")
    if not decision.considered:
        lines.append("  none")
    lines.append(decision.why)
    return "\n".join(lines)


# --- the queue runner ------------------------------------------------------------------------


@dataclass
class TickResult:
    scored: int = 0
    offered: int = 0
    reassigned: int = 0
    waiting: int = 0

    @property
    def work(self) -> int:
        return self.scored + self.offered + self.reassigned


class Assigner:
    """Scores changed leads, offers waiting leads, reassigns lapsed offers. Thread-safe enough
    for one thread per instance; run one per process and as many processes as you like."""

    def __init__(
        self,
        store: Store,
        rules: Callable[[], Rules],
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        batch: int = 200,
    ) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock
        self.rng = rng or random.Random()
        self.batch = batch
        self.views: dict[int, RepView] = {}
        self.scorer = qualification.Scorer(store)
        # How long recent decisions took, in seconds (bench/assign.py).
        self.decision_seconds: deque[float] = deque(maxlen=100_000)

    # -- the loop body -------------------------------------------------------------------

    def tick(self) -> int:
        """One round of everything; returns how much was done (0 = idle)."""
        return self.run_once().work

    def run_once(self) -> TickResult:
        result = TickResult()
        rules = self.rules()
        now = self.clock()
        result.scored = self.scorer.run(rules, now, self.batch)
        # Look first, in a read: on SQLite every write transaction takes the one write lock,
        # which the SMTP listener and the inbox worker need too.
        with self.store.reading() as session:
            overdue = storage.assignment.has_overdue_offers(session, now)
            due = storage.assignment.has_due_waiting(session, now)
        if overdue or due:
            self.refresh_views(now)
        if overdue:
            result.reassigned = self.sweep_sla(rules, now)
        if due or result.reassigned:
            result.offered, _ = self.assign_waiting(rules, now)
        with self.store.reading() as session:
            result.waiting = storage.assignment.counts_by_state(session).get("waiting", 0)
        return result

    def drain(self, limit: int | None = None) -> TickResult:
        """Run until nothing is left to do now (`leadbot assign run`)."""
        total = TickResult()
        while True:
            step = self.run_once()
            total.scored += step.scored
            total.offered += step.offered
            total.reassigned += step.reassigned
            total.waiting = step.waiting
            if not step.work or (limit is not None and total.offered >= limit):
                return total

    def refresh_views(self, now: datetime) -> None:
        with self.store.reading() as session:
            loads = storage.assignment.open_loads(session)
            offers = storage.assignment.offers_since(session, now - WEIGHT_WINDOW)
            self.views = {
                rep.id: RepView.of(rep, loads.get(rep.id, 0), offers.get(rep.id, 0))
                for rep in storage.assignment.reps(session)
                if rep.id is not None
            }

    # -- offering waiting leads ------------------------------------------------------------

    def assign_waiting(self, rules: Rules, now: datetime) -> tuple[int, int]:
        """Offer waiting leads, oldest first; returns (offered, left waiting)."""
        offered = waiting = 0
        for _ in range(self.batch):
            try:
                with self.store.transaction() as session:
                    claimed = storage.assignment.claim_waiting(session, now)
                    if not claimed:
                        break
                    if self._offer(session, claimed[0], rules, now):
                        offered += 1
                    else:
                        waiting += 1
            except OperationalError as exc:  # a deadlock or lock timeout: the row stays queued
                log.warning("assignment rolled back, will retry: %s", exc.orig)
                self.refresh_views(now)
        return offered, waiting

    def _offer(self, session: Session, item: QueueItem, rules: Rules, now: datetime) -> bool:
        lead = storage.leads.by_id(session, item.lead_id)
        if lead is None or not qualification.is_assignable(lead):
            item.state = "done"
            session.add(item)
            return False
        rep, decision, contended = self._place(session, lead, rules, now, item.tried or [])
        if rep is None or decision.rule is None:
            if not contended:
                item.retry_at = now + timedelta(seconds=rules.recheck_seconds)
            session.add(item)
            return False
        rule = decision.rule
        self._give(session, lead, rep, rule, now, summary_prefix="assigned", kind="offer")
        item.state, item.offered_to, item.offered_at = "offered", rep.id, now
        item.due_at = now + timedelta(minutes=rule.sla_minutes)
        item.rule, item.retry_at = rule.name, None
        session.add(item)
        return True

    def _place(
        self, session: Session, lead: Lead, rules: Rules, now: datetime, tried: Iterable[int]
    ) -> tuple[Rep | None, Decision, bool]:
        """Decide, then lock the chosen rep and check the snapshot still holds; decide again
        with fresh figures when another worker changed that rep meanwhile. A rep another worker
        holds locked right now is passed over for this decision rather than waited for.
        Returns the rep (locked until commit), the decision, and whether contention alone
        stopped it (then the lead is tried again at once, not after recheck_seconds)."""
        tried = tuple(tried)
        busy: set[int] = set()
        decision = Decision(None, (), (), (), None, "not decided")
        for _ in range(MAX_RETRIES):
            started = time_module.perf_counter()
            views = [v for v in self.views.values() if v.id not in busy]
            decision = decide(lead, rules, views, now, tried=tried, rng=self.rng)
            self.decision_seconds.append(time_module.perf_counter() - started)
            view = decision.chosen
            if view is None:
                return None, decision, bool(busy)
            # A savepoint per try: rolling it back releases the rep's lock (PostgreSQL), so a
            # worker never holds one rep while it goes for another.
            savepoint = session.begin_nested()
            rep = storage.assignment.rep_for_update(session, view.id)
            if rep is None:  # locked by another worker (or deleted)
                savepoint.rollback()
                busy.add(view.id)
                continue
            load = storage.assignment.open_load(session, view.id)
            fresh = RepView.of(rep, load, view.recent_offers)
            self.views[view.id] = fresh
            if (
                fresh.load >= fresh.capacity
                or fresh.paused
                or not fresh.active
                or fresh.last_assigned_at != view.last_assigned_at
            ):
                savepoint.rollback()
                continue  # another worker (or a person) changed this rep: decide again
            savepoint.commit()  # releases the savepoint; the lock stays until the commit
            return rep, decision, False
        return None, decision, True

    def _give(
        self,
        session: Session,
        lead: Lead,
        rep: Rep,
        rule: AssignmentRule,
        now: datetime,
        *,
        summary_prefix: str,
        kind: str,
        data: dict[str, object] | None = None,
    ) -> None:
        assert lead.id is not None and rep.id is not None
        previous = lead.owner_id
        lead.owner_id = rep.id
        if lead.stage in ("subscriber", "lead"):
            lead.stage = "mql"
        storage.leads.touch(session, lead)
        due = now + timedelta(minutes=rule.sla_minutes)
        payload: dict[str, object] = {
            "rep_id": rep.id,
            "previous_rep_id": previous,
            "rule": rule.name,
            "strategy": rule.strategy,
            "due_at": due.isoformat(timespec="seconds"),
            **(data or {}),
        }
        storage.timeline.append(
            session,
            lead.id,
            actor=ACTOR,
            kind="assigned",
            summary=f"{summary_prefix} to {rep.name} by rule {rule.name!r} "
            f"({rule.strategy.replace('_', ' ')}); respond within {rule.sla_minutes} min",
            data=payload,
        )
        storage.outbox.put(
            session,
            "lead.assigned",
            lead_id=lead.id,
            rep_id=rep.id,
            payload={
                "lead": lead_label(lead.id),
                "rule": rule.name,
                "due_at": payload["due_at"],
            },
        )
        storage.assignment.record(
            session,
            Assignment(
                lead_id=lead.id,
                rep_id=rep.id,
                at=now,
                rule=rule.name,
                strategy=rule.strategy,
                kind=kind,
            ),
        )
        # Round robin orders reps by this stamp: it must grow with every assignment, also when
        # one batch runs at one `now` (a fixed clock) or two land in the same microsecond.
        latest = max((v.last_assigned_at for v in self.views.values() if v.last_assigned_at),
                     default=now)  # fmt: skip
        stamp = max(now, latest + timedelta(microseconds=1))
        rep.last_assigned_at = stamp
        rep.assigned_count += 1
        session.add(rep)
        view = self.views.get(rep.id)
        if view is not None:
            view.last_assigned_at, view.load = stamp, view.load + 1
            view.recent_offers += 1
        if previous is not None and (old := self.views.get(previous)) is not None:
            old.load = max(old.load - 1, 0)

    # -- response times -------------------------------------------------------------------

    def sweep_sla(self, rules: Rules, now: datetime) -> int:
        """Offers nobody acted on in time go to the next rep; the manager is told."""
        moved = 0
        while True:
            with self.store.transaction() as session:
                overdue = storage.assignment.claim_overdue_offers(session, now, limit=20)
                if not overdue:
                    return moved
                for item in overdue:
                    moved += self._lapse(session, item, rules, now)

    def _lapse(self, session: Session, item: QueueItem, rules: Rules, now: datetime) -> int:
        lead = storage.leads.by_id(session, item.lead_id)
        offered_to = item.offered_to
        if (
            lead is None
            or offered_to is None
            or lead.owner_id != offered_to
            or lead.status != "new"
            or storage.assignment.acted_since(session, item.lead_id, item.offered_at or now)
        ):
            item.state = "done"  # taken up (or moved by hand): the SLA is met
            session.add(item)
            return 0
        assert lead.id is not None
        late = storage.reps.by_id(session, offered_to)
        late_name = late.name if late else f"R-{offered_to}"
        item.tried = [*(item.tried or []), offered_to]
        item.hops += 1
        minutes = int(((item.due_at or now) - (item.offered_at or now)).total_seconds() // 60)
        storage.timeline.append(
            session,
            lead.id,
            actor=ACTOR,
            kind="assignment.sla_missed",
            summary=f"{late_name} did not act within {minutes} min",
            data={"rep_id": offered_to, "hop": item.hops, "rule": item.rule},
        )
        rep, decision, contended = self._place(session, lead, rules, now, tried=item.tried)
        to_whom = ""
        if rep is not None and decision.rule is not None and rep.id != offered_to:
            self._give(
                session,
                lead,
                rep,
                decision.rule,
                now,
                summary_prefix=f"reassigned from {late_name}",
                kind="reassign",
                data={"hop": item.hops},
            )
            item.offered_to, item.offered_at = rep.id, now
            item.due_at = now + timedelta(minutes=decision.rule.sla_minutes)
            item.rule = decision.rule.name
            to_whom = rep.name
        else:
            lead.owner_id = None
            storage.leads.touch(session, lead)
            if (view := self.views.get(offered_to)) is not None:
                view.load = max(view.load - 1, 0)
            storage.timeline.append(
                session,
                lead.id,
                actor=ACTOR,
                kind="assignment.requeued",
                summary="back in the queue: nobody else can take it now",
                data={"hop": item.hops},
            )
            item.state, item.offered_to, item.offered_at, item.due_at = "waiting", None, None, None
            item.retry_at = None if contended else now + timedelta(seconds=rules.recheck_seconds)
        session.add(item)
        self._tell_managers(session, lead, late_name, minutes, to_whom, rules)
        return 1

    def _tell_managers(
        self, session: Session, lead: Lead, late: str, minutes: int, to_whom: str, rules: Rules
    ) -> None:
        assert lead.id is not None
        managers = [
            view
            for view in self.views.values()
            if (rules.manager and view.email == rules.manager)
            or (not rules.manager and view.role == "manager" and view.active)
        ]
        what = f"reassigned to {to_whom}" if to_whom else "back in the queue"
        payload = {
            "lead": lead_label(lead.id),
            "subject": f"{late} did not act on {lead_label(lead.id)} within {minutes} min; {what}",
        }
        for manager in managers or [None]:
            storage.outbox.put(
                session,
                "lead.sla_missed",
                lead_id=lead.id,
                rep_id=manager.id if manager else None,
                payload=payload,
            )


def explain(session: Session, lead: Lead, rules: Rules, now: datetime) -> str:
    """Why the lead went (or would go) where it did, with fresh figures from the store."""
    assert lead.id is not None
    loads = storage.assignment.open_loads(session)
    offers = storage.assignment.offers_since(session, now - WEIGHT_WINDOW)
    views = [
        RepView.of(rep, loads.get(rep.id or 0, 0), offers.get(rep.id or 0, 0))
        for rep in storage.assignment.reps(session)
    ]
    item = storage.assignment.item_for_lead(session, lead.id)
    tried = item.tried if item is not None and item.state != "done" else []
    decision = decide(
        lead, rules, views, now, tried=tried or [], rng=random.Random(0), explain=True
    )
    text = explain_text(lead, decision, item)
    if lead.owner_id is not None:
        owner = next((view.name for view in views if view.id == lead.owner_id), "?")
        text = text.replace(
            "\nreps considered:",
            f"\nnow with {owner} (R-{lead.owner_id}); a decision made now would weigh:",
            1,
        )
    history = storage.assignment.for_lead(session, lead.id)
    if history:
        names = {view.id: view.name for view in views}
        text += "\nassignments:" + "".join(
            f"\n  {a.at:%Y-%m-%d %H:%M} {a.kind} → {names.get(a.rep_id, a.rep_id)} "
            f"(rule {a.rule!r}, {a.strategy})"
            for a in history
        )
    return text
