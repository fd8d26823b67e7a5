"""The assigner loop: score changed leads, offer waiting leads, move lapsed offers on.

`Assigner` runs the queue inside `leadbot serve` (and `leadbot assign run`): it scores the leads
whose behaviour changed and queues the MQLs (bot.scoring.qualification), offers waiting leads to
reps, and moves an offer on to the next rep when its response time (SLA) lapses, telling the
manager. Each decision is one transaction: the queue row is claimed (SKIP LOCKED), the chosen
rep's row locked while its open leads are counted, so neither a lead nor a rep's last free place
is ever given twice. `now` comes from an injected clock, so tests can move time.

Who gets a lead is not decided here: the loop asks the pure `decide` (bot/assignment/decide.py)
and then claims, locks, writes the timeline and the outbox rows, which is all this module does.
"""

from __future__ import annotations

import logging
import random
import time as time_module
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

import storage.assignment
import storage.leads
import storage.outbox
import storage.reps
import storage.timeline
from bot.assignment.availability import RepView
from bot.assignment.decide import WEIGHT_WINDOW, Decision, decide
from bot.leads.refs import lead_label
from bot.rules.file import AssignmentRule, Rules
from bot.scoring import qualification
from storage.engine import Store
from storage.models import Assignment, Lead, QueueItem, Rep, utcnow

log = logging.getLogger(__name__)

ACTOR = "assignment"
# Tries to place one lead when another worker changed the chosen rep meanwhile.
MAX_RETRIES = 20


@dataclass
class TickResult:
    scored: int = 0
    offered: int = 0
    reassigned: int = 0
    # Leads left waiting: counted by `drain` only (serve's ticks do not need it).
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
        self._rules_evaluated: Rules | None = None
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
        if rules is not self._rules_evaluated:  # at start, and after each reload
            result.scored = qualification.reevaluate_on_rules_change(self.store, rules, now)
            self._rules_evaluated = rules
        result.scored += self.scorer.run(rules, now, self.batch)
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
        return result

    def drain(self, limit: int | None = None) -> TickResult:
        """Run until nothing is left to do now (`leadbot assign run`)."""
        total = TickResult()
        while True:
            step = self.run_once()
            total.scored += step.scored
            total.offered += step.offered
            total.reassigned += step.reassigned
            if not step.work or (limit is not None and total.offered >= limit):
                # Counted once here, not on each of serve's ticks: a GROUP BY over the whole
                # queue was a fifth of an idle tick's CPU.
                with self.store.reading() as session:
                    total.waiting = storage.assignment.counts_by_state(session).get("waiting", 0)
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
