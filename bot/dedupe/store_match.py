"""De-duplication against the store: find the leads a new one duplicates, and decide.

The algorithm is `bot.dedupe.match` (blocking keys, rapidfuzz scores, thresholds); here its
blocking keys live in the `lead_block_keys` table, so matching one lead reads only the rows of
its own few blocks, whatever the size of the store:

1. the probe's keys (a dozen) → their block sizes (one indexed GROUP BY);
2. the members of blocks of at most `max_block_size` leads, ranked by the weight of the blocks
   they share (`block_weight`, as the in-memory index ranks them), summed by the database: only
   the best `max_candidates` come back;
3. their normal forms (`lead_match_forms`, written when they were indexed) are scored.

On capture the verdict of the best match decides: "merge" folds the new lead into the old one
(undoable), "review" keeps both and flags the pair for a person, "new" does nothing.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field, replace
from typing import Any

from sqlmodel import Session

import storage.duplicates
import storage.leads
import storage.timeline
from bot.dedupe import merging
from bot.dedupe.index import index, person_of
from bot.dedupe.match import (
    Match,
    block_weight,
    from_form,
    keys_of,
    prepare,
    quick_score,
    score_prepared,
)
from bot.dedupe.model import MatchModel
from bot.leads.refs import lead_label
from bot.rules.dedupe import MatchRules
from bot.rules.file import Rules
from storage.models import DuplicateFlag, Lead

# Flags raised per new lead at most (the best matches between the thresholds).
MAX_FLAGS = 3


# Fitted models by (store, model id): rows are never changed, so a process loads each once.
_LOADED: dict[tuple[str, int], MatchModel] = {}
# Which model is in force, asked of the store at most this often per engine: a look-up per
# capture cost 5 % of it. A model saved by this process is in force at once (`model_saved`),
# one saved by another (`dedupe train` beside serve) within this many seconds.
MODEL_CHECK_SECONDS = 10.0
# Kept per connection pool: an engine and the option engines made from it (`Store.reading`
# makes one per read) share it, so a read-only match does not ask again each time.
_LATEST: weakref.WeakKeyDictionary[Any, tuple[float, int | None]] = weakref.WeakKeyDictionary()


def _engine_key(bind: Any) -> Any:
    return getattr(bind, "pool", bind)


def model_saved(bind: Any) -> None:
    """A model was saved (and committed) through `bind`, a store's engine: the next capture
    through it looks the model up."""
    _LATEST.pop(_engine_key(bind), None)


def _latest_model_id(session: Session) -> int | None:
    bind, now = _engine_key(session.get_bind()), time.monotonic()
    known = _LATEST.get(bind)
    if known is not None and now - known[0] < MODEL_CHECK_SECONDS:
        return known[1]
    model_id = storage.duplicates.latest_model_id(session)
    _LATEST[bind] = (now, model_id)
    return model_id


def with_model(session: Session, rules: MatchRules) -> MatchRules:
    """`rules` with the store's model in force (the newest `dedupe train` saved), or as they
    are (the shipped defaults) before any training."""
    if rules.model is not None:
        return rules
    model_id = _latest_model_id(session)
    if model_id is None:
        return rules
    key = (str(session.get_bind().url), model_id)
    model = _LOADED.get(key)
    if model is None:
        row = storage.duplicates.model_by_id(session, model_id)
        if row is None:
            return rules
        model = _LOADED[key] = MatchModel.from_data(row.params)
    return replace(rules, model=model)


def find_matches(session: Session, lead: Lead, rules: MatchRules) -> list[Match]:
    """Stored leads that `lead` may duplicate (score >= `rules.review`), best first. Leads a
    person declared "not a duplicate" of it and merged-away leads are left out."""
    assert lead.id is not None
    rules = with_model(session, rules)
    probe = prepare(person_of(lead))
    keys = keys_of(probe)
    sizes = storage.duplicates.block_sizes(session, keys, cap=rules.max_block_size)
    weights = {
        key: block_weight(size) for key, size in sizes.items() if size <= rules.max_block_size
    }
    ranked = storage.duplicates.best_candidates(session, weights, lead.id, rules.max_candidates)
    apart = storage.duplicates.not_duplicates_of(session, lead.id)
    wanted = [int(key) for key, _ in ranked if key not in apart]
    forms = storage.duplicates.match_forms(session, wanted)
    others = [from_form(form) for form in forms.values()]
    matches = [
        score_prepared(probe, other, rules)
        for other in others
        if quick_score(probe, other, rules) >= rules.review
    ]
    matches = [match for match in matches if match.score >= rules.review]
    # the same probability (two sure matches): the one with more evidence first
    matches.sort(key=lambda match: (-match.score, -match.bits, match.key))
    return matches


class Matcher:
    """How capture finds the stored lead of an address and the duplicates of a new lead: one
    lead at a time, from the store (this class). An import hands capture a batch matcher
    (bot/imports/batch.py) that answers from what it read for a whole batch of rows at once:
    the same algorithm, a few queries per batch instead of several per row."""

    def existing(self, session: Session, address: str) -> Lead | None:
        return storage.leads.by_email(session, address)

    def matches(self, session: Session, lead: Lead, rules: MatchRules) -> list[Match]:
        return find_matches(session, lead, rules)

    def indexed(self, lead: Lead) -> None:
        """`lead` was just indexed (its keys are in the store): a batch matcher adds it to what
        it holds, so the rows after it in the same batch can match it."""


STORE = Matcher()


@dataclass
class CaptureDecision:
    """What de-duplication did with a new lead: merged it into `survivor`, flagged it against
    `flagged`, or neither."""

    survivor: Lead | None = None
    match: Match | None = None
    flagged: list[Match] = field(default_factory=list)


def on_capture(
    session: Session,
    lead: Lead,
    rules: Rules,
    actor: str = "system",
    matcher: Matcher = STORE,
) -> CaptureDecision:
    """Match a just-created lead against the store and act on the best verdict under `rules`
    (the [dedupe] table decides; a merge re-scores the survivor). The lead is indexed unless it
    was merged away."""
    matches = matcher.matches(session, lead, rules.match)
    decision = CaptureDecision()
    if matches and matches[0].verdict == "merge":
        best = matches[0]
        survivor = storage.duplicates.leads_by_ids(session, [int(best.key)])[0]
        merging.merge(session, lead, survivor, actor, rules, match=best)
        decision.survivor, decision.match = survivor, best
        return decision
    index(session, lead)
    matcher.indexed(lead)
    for match in matches[:MAX_FLAGS]:
        flag(session, lead, match, actor, found_by="capture")
        decision.flagged.append(match)
    return decision


def flag(
    session: Session, lead: Lead, match: Match, actor: str, found_by: str
) -> DuplicateFlag | None:
    """Flag "possible duplicate of L-7 (87%)" on `lead`, once per pair."""
    assert lead.id is not None
    other = int(match.key)
    if storage.duplicates.flag_between(session, lead.id, other) is not None:
        return None
    created = storage.duplicates.add_flag(
        session,
        DuplicateFlag(
            lead_id=lead.id,
            other_id=other,
            score=round(match.score, 4),
            reasons=list(match.reasons),
            found_by=found_by,
        ),
    )
    storage.timeline.append(
        session,
        lead.id,
        actor=actor,
        kind="duplicate.flagged",
        summary=match.describe(lead_label(other)),
        data={
            "other": lead_label(other),
            "score": round(match.score, 4),
            "reasons": match.reasons,
            "weights": match.top_fields(),
        },
    )
    return created


def flag_many(session: Session, pairs: list[tuple[int, Match]], actor: str, found_by: str) -> int:
    """`flag` for many (lead id, match) pairs, as the scan raises them: the existing flags read
    with one query, the new ones written with one flush and their timeline entries in one
    batch. How many were raised."""
    existing = storage.duplicates.flags_between_pairs(
        session, [(lead_id, int(match.key)) for lead_id, match in pairs]
    )
    rows: list[DuplicateFlag] = []
    entries: list[dict[str, Any]] = []
    for lead_id, match in pairs:
        other = int(match.key)
        pair = frozenset((lead_id, other))
        if pair in existing:
            continue
        row = DuplicateFlag(
            lead_id=lead_id,
            other_id=other,
            score=round(match.score, 4),
            reasons=list(match.reasons),
            found_by=found_by,
        )
        existing[pair] = row
        rows.append(row)
        entries.append(
            {
                "lead_id": lead_id,
                "actor": actor,
                "kind": "duplicate.flagged",
                "summary": match.describe(lead_label(other)),
                "data": {
                    "other": lead_label(other),
                    "score": round(match.score, 4),
                    "reasons": match.reasons,
                    "weights": match.top_fields(),
                },
            }
        )
    storage.duplicates.add_flags(session, rows)
    storage.timeline.append_many(session, entries)
    return len(rows)


def not_duplicate(session: Session, lead: Lead, other: Lead, actor: str) -> DuplicateFlag:
    """A person says the two are different people: never flagged or merged again."""
    assert lead.id is not None and other.id is not None
    if lead.id == other.id:
        raise ValueError("a lead is not a duplicate of itself")
    existing = storage.duplicates.flag_between(session, lead.id, other.id)
    if existing is None:
        existing = storage.duplicates.add_flag(
            session, DuplicateFlag(lead_id=lead.id, other_id=other.id, score=0.0, found_by="person")
        )
    storage.duplicates.decide(session, existing, "not_duplicate", actor)
    for one, two in ((lead, other), (other, lead)):
        assert one.id is not None
        storage.timeline.append(
            session,
            one.id,
            actor=actor,
            kind="duplicate.dismissed",
            summary=f"not a duplicate of {lead_label(two.id)}",
            data={"other": lead_label(two.id)},
        )
    return existing
