"""The text of `leadbot assign explain`: which rule matches, each rep considered and why.

Kept apart from the decision because it reads the store (fresh loads, the queue row, the
assignment history) and formats for people, while `decide` stays pure; both the CLI and the
tests call `explain`.
"""

from __future__ import annotations

import random
from datetime import datetime

from sqlmodel import Session

import storage.assignment
from bot.assignment.availability import RepView
from bot.assignment.decide import WEIGHT_WINDOW, Decision, decide
from bot.leads.refs import lead_label
from bot.rules.file import Rules, describe_rule
from bot.scoring import qualification
from storage.models import Lead, QueueItem


def explain_text(
    lead: Lead, decision: Decision, item: QueueItem | None, not_queued: str = ""
) -> str:
    """`leadbot assign explain`: the rule, each rep considered and why it was skipped;
    `not_queued` says why a lead without a queue row has none."""
    lines = [f"{lead_label(lead.id)} {lead.email}"]
    if item is not None:
        state = item.state
        if item.state == "offered" and item.due_at:
            state += f" (respond by {item.due_at:%Y-%m-%d %H:%M} UTC)"
        lines.append(f"queue: {state}, {item.hops} hops")
    else:
        lines.append(f"queue: {not_queued or 'not queued (not an MQL yet)'}")
    for missed in decision.rules_missed:
        lines.append(f"  skipped {missed}")
    if decision.rule is None:
        lines.append("no assignment rule matches")
        return "\n".join(lines)
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
    verdict = "" if item is not None else qualification.queue_verdict(session, lead, rules, now)
    text = explain_text(lead, decision, item, verdict)
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
