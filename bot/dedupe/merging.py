"""Merging two leads of one person into one, and undoing it.

The survivor keeps its id, address, reply token, status and owner; per field it takes the best
value of the two (`MatchRules.survivorship`: the newest non-empty value, or the value from the
source ranked first in `source_priority`). Everything that belonged to the merged lead — its
timeline, its emails, its contact and opportunity, and whatever later tables register in
`storage.lead_rows.LEAD_ROWS` (tracking events, campaign memberships) — moves to the survivor.
The merged lead is not deleted: it stays, marked `merged_into_id`, as an alias (mail from its
address or to its reply address reaches the survivor) and so that the merge can be undone.

Undo moves back exactly the rows the merge moved and restores each field the merge changed,
unless someone changed that field since (then the newer value stays, and undo says so).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

import storage.duplicates
import storage.lead_rows
import storage.leads
import storage.timeline
from bot.dedupe.index import index
from bot.dedupe.match import Match
from bot.leads import fields
from bot.leads.refs import lead_label
from bot.rules.dedupe import MatchRules
from bot.rules.file import Rules
from bot.scoring import qualification
from storage.models import Lead, LeadMerge, utcnow

# Fields the survivor may take from the merged lead: every person field but the address.
MERGED_FIELDS = fields.NAMES
# Taken only when the survivor has none.
FILLED_FIELDS = ("owner_id", "account_id", "proposed_owner_id", "grade")


class MergeRefused(ValueError):
    """The two leads cannot be merged (the same lead, one already merged, …)."""


def _rank(lead: Lead, rules: MatchRules) -> tuple[int, float]:
    """Higher wins: source priority first when configured, then the newest change."""
    stamp = lead.updated_at.timestamp()
    if rules.survivorship == "source_priority":
        order = rules.source_priority
        priority = len(order) - order.index(lead.source) if lead.source in order else 0
        return priority, stamp
    return 0, stamp


def survivor_values(survivor: Lead, merged: Lead, rules: MatchRules) -> dict[str, Any]:
    """The fields of the survivor that change, with the value each takes."""
    changes: dict[str, Any] = {}
    merged_wins = _rank(merged, rules) > _rank(survivor, rules)
    for name in MERGED_FIELDS:
        mine, theirs = getattr(survivor, name), getattr(merged, name)
        if theirs and theirs != mine and (not mine or merged_wins):
            changes[name] = theirs
    for name in FILLED_FIELDS:
        if getattr(survivor, name) is None and getattr(merged, name) is not None:
            changes[name] = getattr(merged, name)
    if merged.score > survivor.score:
        changes["score"] = merged.score
    custom = dict(survivor.custom or {})
    for key, value in (merged.custom or {}).items():
        if key not in custom or merged_wins:
            custom[key] = value
    if custom != (survivor.custom or {}):
        changes["custom"] = custom
    return changes


def merge(
    session: Session,
    merged: Lead,
    survivor: Lead,
    actor: str,
    rules: Rules,
    match: Match | None = None,
    *,
    refresh: bool = True,
    moved: dict[str, list[int]] | None = None,
) -> LeadMerge:
    """Fold `merged` into `survivor` in the caller's transaction; the record undo needs.
    `rules` say which values the survivor keeps ([dedupe]) and how it is scored again.
    `refresh=False` leaves re-indexing and re-scoring the survivor to the caller (the scan
    does it once per cluster, with `index_many`, which also drops the merged lead's keys), and
    `moved` says the rows were moved already (`storage.lead_rows.move_many`)."""
    assert merged.id is not None and survivor.id is not None
    if moved is None:
        _check(merged, survivor)
        moved = storage.lead_rows.move(session, merged.id, survivor.id)
    if refresh:
        storage.duplicates.drop_keys(session, merged.id)
    (record,) = merge_many(session, [(merged, survivor, match)], actor, rules, {merged.id: moved})
    if refresh:
        index(session, survivor)
        rescore(session, survivor, rules)
    return record


def _check(merged: Lead, survivor: Lead) -> None:
    if merged.id == survivor.id:
        raise MergeRefused("a lead cannot be merged into itself")
    for lead in (merged, survivor):
        if lead.merged_into_id is not None:
            raise MergeRefused(
                f"{lead_label(lead.id)} was already merged into {lead_label(lead.merged_into_id)}"
            )


def merge_many(
    session: Session,
    folds: list[tuple[Lead, Lead, Match | None]],
    actor: str,
    rules: Rules,
    moved: dict[int, dict[str, list[int]]],
) -> list[LeadMerge]:
    """Fold each (merged, survivor, match) in order, in the caller's transaction, whose rows
    `moved` (merged id -> table -> row ids) were moved already. The flags of all pairs are read
    with one query, the merge records written with one flush and the timeline entries in one
    batch: a scan merges thousands. Re-indexing and re-scoring are the caller's (as
    `merge(refresh=False)`)."""
    for merged, survivor, _ in folds:
        _check(merged, survivor)
        merged.merged_into_id = survivor.id  # a later fold of the batch sees it merged
    pairs = [(m.id, s.id) for m, s, _ in folds]
    flags = storage.duplicates.flags_between_pairs(session, pairs)  # type: ignore[arg-type]
    records: list[LeadMerge] = []
    notes: list[tuple[Lead, Lead, Match | None, dict[str, Any], float | None]] = []
    for merged, survivor, match in folds:
        assert merged.id is not None and survivor.id is not None
        changes = survivor_values(survivor, merged, rules.match)
        before = {name: getattr(survivor, name) for name in changes}
        for name, value in changes.items():
            setattr(survivor, name, value)
        if merged.enquiry and merged.enquiry not in survivor.enquiry:
            before.setdefault("enquiry", survivor.enquiry)
            survivor.enquiry = merged.enquiry
            changes["enquiry"] = merged.enquiry
        storage.leads.touch(session, merged)
        storage.leads.touch(session, survivor)
        flag = flags.get(frozenset((merged.id, survivor.id)))
        # A person's "not a duplicate" outlives a merge someone forced anyway (and its undo).
        if flag is not None and flag.state != "not_duplicate":
            storage.duplicates.decide(session, flag, "merged", actor)
        score = round(match.score, 4) if match is not None else None
        records.append(
            LeadMerge(
                survivor_id=survivor.id,
                merged_id=merged.id,
                score=score,
                actor=actor,
                before=_jsonable(before),
                after=_jsonable(changes),
                moved=moved[merged.id],
            )
        )
        notes.append((merged, survivor, match, changes, score))
    storage.duplicates.add_merges(session, records)
    entries: list[dict[str, Any]] = []
    for record, (merged, survivor, match, changes, score) in zip(records, notes, strict=True):
        how = f" ({match.percent}%)" if match is not None else ""
        taken = ", ".join(name for name in changes if name not in ("custom", "score")) or "nothing"
        entries.append(
            {
                "lead_id": survivor.id,
                "actor": actor,
                "kind": "merged",
                "summary": f"{lead_label(merged.id)} ({merged.email}) merged into this "
                f"lead{how}; took {taken}",
                "data": {
                    "merge": record.id,
                    "merged": lead_label(merged.id),
                    "score": score,
                    "reasons": list(match.reasons) if match else [],
                    "moved": {name: len(ids) for name, ids in record.moved.items()},
                },
            }
        )
        entries.append(
            {
                "lead_id": merged.id,
                "actor": actor,
                "kind": "merged_into",
                "summary": f"merged into {lead_label(survivor.id)}{how}",
                "data": {"merge": record.id, "survivor": lead_label(survivor.id)},
            }
        )
    storage.timeline.append_many(session, entries)
    return records


def unmerge(session: Session, merged: Lead, actor: str, rules: Rules) -> tuple[Lead, list[str]]:
    """Undo the merge that folded `merged` away: the survivor and the list of fields kept
    because they changed after the merge; both leads are scored again under `rules`."""
    assert merged.id is not None
    record = storage.duplicates.last_merge_of(session, merged.id)
    if record is None or merged.merged_into_id is None:
        raise MergeRefused(f"{lead_label(merged.id)} is not merged into another lead")
    survivor = storage.leads.by_id(session, record.survivor_id, for_update=True)
    assert survivor is not None and survivor.id is not None
    kept: list[str] = []
    for name, old in record.before.items():
        if _jsonable({name: getattr(survivor, name)})[name] == record.after.get(name):
            setattr(survivor, name, old)
        else:
            kept.append(name)
    storage.lead_rows.restore(session, record.moved, merged.id)
    merged.merged_into_id = None
    record.undone_at, record.undone_by = utcnow(), actor
    session.add(record)
    flag = storage.duplicates.flag_between(session, merged.id, survivor.id)
    if flag is not None and flag.state == "merged":
        storage.duplicates.decide(session, flag, "open", actor)
    storage.leads.touch(session, merged)
    storage.leads.touch(session, survivor)
    note = f"; kept {', '.join(kept)} (changed since the merge)" if kept else ""
    storage.timeline.append(
        session,
        survivor.id,
        actor=actor,
        kind="unmerged",
        summary=f"merge of {lead_label(merged.id)} undone{note}",
        data={"merge": record.id, "kept": kept},
    )
    storage.timeline.append(
        session,
        merged.id,
        actor=actor,
        kind="unmerged",
        summary=f"no longer merged into {lead_label(survivor.id)}",
        data={"merge": record.id},
    )
    index(session, survivor)
    index(session, merged)
    rescore(session, survivor, rules)
    rescore(session, merged, rules)
    return survivor, kept


def rescore(session: Session, lead: Lead, rules: Rules) -> None:
    """Score and grade again: the events a merge moves change both (the timeline cursor of the
    scorer has passed the moved entries, so it would not see them)."""
    qualification.refresh(session, lead, rules, utcnow())


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: (dict(value) if isinstance(value, dict) else value) for name, value in values.items()
    }
