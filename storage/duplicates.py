"""Named queries for de-duplication: the blocking-key table, duplicate flags and merge records."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import TextClause, delete, func, insert, or_, text
from sqlmodel import Session, col, select

from storage.models import (
    DuplicateFlag,
    Lead,
    LeadBlockKey,
    LeadMatchForm,
    LeadMerge,
    MatchModelRow,
    utcnow,
)

# --- blocking keys ----------------------------------------------------------------------------


def replace_keys(session: Session, lead_id: int, keys: Iterable[str]) -> None:
    """Make `keys` the lead's blocking keys (its fields changed, or it is new)."""
    session.exec(delete(LeadBlockKey).where(col(LeadBlockKey.lead_id) == lead_id))  # type: ignore[call-overload]
    rows = [{"lead_id": lead_id, "key": key} for key in sorted(set(keys))]
    if rows:  # one executemany, not an ORM object per key (a scan writes millions)
        session.execute(insert(LeadBlockKey), rows)


def drop_keys(session: Session, lead_id: int) -> None:
    """Take a lead out of matching (it was merged away)."""
    session.exec(delete(LeadBlockKey).where(col(LeadBlockKey.lead_id) == lead_id))  # type: ignore[call-overload]
    session.exec(delete(LeadMatchForm).where(col(LeadMatchForm.lead_id) == lead_id))  # type: ignore[call-overload]


def drop_keys_of(session: Session, lead_ids: Collection[int]) -> None:
    """`drop_keys` for many leads, a statement per table and 500 leads."""
    ids = sorted(lead_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.exec(delete(LeadBlockKey).where(col(LeadBlockKey.lead_id).in_(chunk)))  # type: ignore[call-overload]
        session.exec(delete(LeadMatchForm).where(col(LeadMatchForm.lead_id).in_(chunk)))  # type: ignore[call-overload]


def replace_form(session: Session, lead_id: int, form: dict[str, Any]) -> None:
    """Store the lead's normal form (what `match_forms` gives back to the matcher)."""
    session.exec(delete(LeadMatchForm).where(col(LeadMatchForm.lead_id) == lead_id))  # type: ignore[call-overload]
    session.execute(insert(LeadMatchForm), [{"lead_id": lead_id, "form": form}])


def replace_keys_and_forms(
    session: Session, keys: dict[int, Iterable[str]], forms: dict[int, dict[str, Any]]
) -> None:
    """`replace_keys` and `replace_form` for many leads at once: one DELETE per table and one
    executemany per table (a scan re-indexes thousands of leads)."""
    ids = sorted(set(keys) | set(forms))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.exec(delete(LeadBlockKey).where(col(LeadBlockKey.lead_id).in_(chunk)))  # type: ignore[call-overload]
        session.exec(delete(LeadMatchForm).where(col(LeadMatchForm.lead_id).in_(chunk)))  # type: ignore[call-overload]
    rows = [
        {"lead_id": i, "key": key}
        for i, lead_keys in keys.items()
        for key in sorted(set(lead_keys))
    ]
    if rows:
        session.execute(insert(LeadBlockKey), rows)
    if forms:
        session.execute(
            insert(LeadMatchForm), [{"lead_id": i, "form": f} for i, f in forms.items()]
        )


def match_forms(session: Session, lead_ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """The stored normal forms of `lead_ids` (merged-away leads have none)."""
    if not lead_ids:
        return {}
    ids = list(lead_ids)
    params = {f"i{n}": lead_id for n, lead_id in enumerate(ids)}
    rows = session.connection().execute(_forms_of(len(ids)), params)
    # A text statement has no result types: SQLite gives the JSON as text, psycopg parsed.
    return {lead_id: form if isinstance(form, dict) else json.loads(form) for lead_id, form in rows}


@functools.lru_cache(maxsize=128)
def _forms_of(count: int) -> TextClause:
    """The forms of `count` leads, one text per count (as `_capped_sizes`): the ORM's typed
    statement took 2.1 ms of CPU for a match's 64 forms, this 1.4 ms."""
    ids = ", ".join(f":i{n}" for n in range(count))
    return text(f"SELECT lead_id, form FROM lead_match_forms WHERE lead_id IN ({ids})")


def block_sizes(session: Session, keys: Collection[str], cap: int | None = None) -> dict[str, int]:
    """How many leads share each of `keys` (keys nobody has are left out). With `cap`, a block
    is counted up to `cap` + 1 only: a block over the limit is skipped anyway, and counting a
    word shared by 50,000 leads would read all of them."""
    if not keys:
        return {}
    if cap is None:
        query = (
            select(LeadBlockKey.key, func.count())
            .where(col(LeadBlockKey.key).in_(keys))
            .group_by(col(LeadBlockKey.key))
        )
        # Core, not ORM rows: this runs on every capture (bench/dedupe_store.py).
        return {key: n for key, n in session.connection().execute(query)}
    ordered = sorted(keys)
    params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(ordered)}
    params["cap"] = cap + 1
    sizes = session.connection().execute(_capped_sizes(len(ordered)), params)
    return {key: n for key, n in sizes if n}


@functools.lru_cache(maxsize=64)
def _capped_sizes(count: int) -> TextClause:
    """The capped count of `count` blocks as one statement, its text made once per count: built
    from SQLAlchemy's constructs per capture, it cost more than running it."""
    parts = [
        f"SELECT :k{i} AS key, count(*) AS n FROM"
        f" (SELECT 1 FROM lead_block_keys WHERE key = :k{i} LIMIT :cap) AS b{i}"
        for i in range(count)
    ]
    return text(" UNION ALL ".join(parts))


def block_members(session: Session, keys: Collection[str]) -> dict[str, list[int]]:
    """The leads in each of `keys`: call it with small blocks only (see `block_sizes`)."""
    members: dict[str, list[int]] = {}
    if not keys:
        return members
    query = select(LeadBlockKey.key, LeadBlockKey.lead_id).where(col(LeadBlockKey.key).in_(keys))
    for key, lead_id in session.connection().execute(query):
        members.setdefault(key, []).append(lead_id)
    return members


def best_candidates(
    session: Session, weights: dict[str, float], exclude: int | None, limit: int
) -> list[tuple[int, float]]:
    """The `limit` leads sharing the most weight of blocks with a probe: each block key in
    `weights` adds its weight to every lead in it. Summed and ranked by the database, so only
    `limit` rows come back however many leads the blocks hold."""
    if not weights:
        return []
    params: dict[str, Any] = {}
    for i, (key, value) in enumerate(weights.items()):
        params[f"k{i}"], params[f"w{i}"] = key, float(value)
    params["limit"] = limit + 1
    query = _ranked_candidates(len(weights))
    ranked = [
        (lead_id, float(value))
        for lead_id, value in session.connection().execute(query, params)
        if lead_id != exclude
    ]
    return ranked[:limit]


@functools.lru_cache(maxsize=64)
def _ranked_candidates(count: int) -> TextClause:
    """Leads ranked by the weight of the `count` blocks they share with a probe (one text per
    count, as `_capped_sizes`)."""
    keys = ", ".join(f":k{i}" for i in range(count))
    weight = " ".join(f"WHEN :k{i} THEN :w{i}" for i in range(count))
    return text(
        f"SELECT lead_id, SUM(CASE key {weight} ELSE 0.0 END) AS weight FROM lead_block_keys"
        f" WHERE key IN ({keys}) GROUP BY lead_id ORDER BY weight DESC, lead_id LIMIT :limit"
    )


def leads_by_ids(session: Session, lead_ids: Collection[int]) -> Sequence[Lead]:
    if not lead_ids:
        return []
    return session.exec(select(Lead).where(col(Lead.id).in_(lead_ids))).all()


def indexed_lead_count(session: Session) -> int:
    return session.exec(select(func.count(func.distinct(LeadBlockKey.lead_id)))).one()


# --- flags ------------------------------------------------------------------------------------


def flag_between(session: Session, a: int, b: int) -> DuplicateFlag | None:
    """The flag on the pair, whichever way round it was raised."""
    query = select(DuplicateFlag).where(
        or_(
            (col(DuplicateFlag.lead_id) == a) & (col(DuplicateFlag.other_id) == b),
            (col(DuplicateFlag.lead_id) == b) & (col(DuplicateFlag.other_id) == a),
        )
    )
    return session.exec(query).first()


def flags_between_pairs(
    session: Session, pairs: Collection[tuple[int, int]]
) -> dict[frozenset[int], DuplicateFlag]:
    """`flag_between` for many pairs: one query per 500 leads, keyed by the pair."""
    wanted = {frozenset(pair) for pair in pairs}
    ids = sorted({lead_id for pair in pairs for lead_id in pair})
    found: dict[frozenset[int], DuplicateFlag] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = select(DuplicateFlag).where(col(DuplicateFlag.lead_id).in_(chunk))
        for flag in session.exec(query.order_by(col(DuplicateFlag.id))).all():
            pair = frozenset((flag.lead_id, flag.other_id))
            if pair in wanted:
                found.setdefault(pair, flag)
    return found


def not_duplicates_of(session: Session, lead_id: int) -> set[int]:
    """Leads a person said are not duplicates of `lead_id`: never flagged or merged again."""
    if session.autoflush:  # as the ORM's select would: a decision made in this transaction counts
        session.flush()
    rows = session.connection().execute(_NOT_DUPLICATES_OF, {"lead": lead_id})
    return {b if a == lead_id else a for a, b in rows}


# A text statement: this runs on every capture; with it (and `_forms_of`) the median match
# against 100,000 stored leads fell from 8.3 to 6.2 ms (bench/dedupe_store.py).
_NOT_DUPLICATES_OF = text(
    "SELECT lead_id, other_id FROM duplicate_flags WHERE state = 'not_duplicate'"
    " AND (lead_id = :lead OR other_id = :lead)"
)


def open_flags(
    session: Session, lead_id: int | None = None, limit: int | None = None
) -> Sequence[DuplicateFlag]:
    """Pairs waiting for a person, best first (of one lead, or all)."""
    query = select(DuplicateFlag).where(col(DuplicateFlag.state) == "open")
    if lead_id is not None:
        query = query.where(
            (col(DuplicateFlag.lead_id) == lead_id) | (col(DuplicateFlag.other_id) == lead_id)
        )
    query = query.order_by(col(DuplicateFlag.score).desc(), col(DuplicateFlag.id))
    if limit is not None:
        query = query.limit(limit)
    return session.exec(query).all()


def add_flag(session: Session, flag: DuplicateFlag) -> DuplicateFlag:
    session.add(flag)
    session.flush()
    return flag


def add_flags(session: Session, flags: list[DuplicateFlag]) -> list[DuplicateFlag]:
    """`add_flag` for many, with one flush."""
    if flags:
        session.add_all(flags)
        session.flush()
    return flags


def decide(session: Session, flag: DuplicateFlag, state: str, actor: str) -> None:
    flag.state, flag.decided_by, flag.decided_at = state, actor, utcnow()
    session.add(flag)


# --- merges -----------------------------------------------------------------------------------


def add_merge(session: Session, merge: LeadMerge) -> LeadMerge:
    session.add(merge)
    session.flush()
    return merge


def add_merges(session: Session, merges: list[LeadMerge]) -> list[LeadMerge]:
    """`add_merge` for many, with one flush (their ids go into the timeline)."""
    session.add_all(merges)
    session.flush()
    return merges


def last_merge_of(session: Session, merged_id: int) -> LeadMerge | None:
    """The merge that folded `merged_id` away and is not undone yet."""
    query = (
        select(LeadMerge)
        .where(col(LeadMerge.merged_id) == merged_id)
        .where(col(LeadMerge.undone_at).is_(None))
        .order_by(col(LeadMerge.id).desc())
    )
    return session.exec(query).first()


# --- batch scan -------------------------------------------------------------------------------


def unindexed_lead_ids(session: Session, limit: int) -> list[int]:
    """Active leads with no blocking keys yet (stored before de-duplication existed)."""
    indexed = select(LeadBlockKey.lead_id).where(LeadBlockKey.lead_id == Lead.id).exists()
    query = (
        select(Lead.id)
        .where(col(Lead.merged_into_id).is_(None))
        .where(~indexed)
        .order_by(col(Lead.id))
        .limit(limit)
    )
    return [lead_id for lead_id in session.exec(query).all() if lead_id is not None]


def active_leads_page(session: Session, after_id: int, limit: int) -> Sequence[Lead]:
    """Active leads with an id above `after_id`, in id order (the scan reads the store in pages)."""
    query = (
        select(Lead)
        .where(col(Lead.merged_into_id).is_(None))
        .where(col(Lead.id) > after_id)
        .order_by(col(Lead.id))
        .limit(limit)
    )
    return session.exec(query).all()


def active_lead_count(session: Session) -> int:
    query = select(func.count()).select_from(Lead).where(col(Lead.merged_into_id).is_(None))
    return session.exec(query).one()


def not_duplicate_pairs(session: Session) -> set[frozenset[int]]:
    query = select(DuplicateFlag.lead_id, DuplicateFlag.other_id).where(
        col(DuplicateFlag.state) == "not_duplicate"
    )
    return {frozenset(pair) for pair in session.exec(query).all()}


# --- the fitted match model -------------------------------------------------------------------


def save_model(session: Session, row: MatchModelRow) -> MatchModelRow:
    """Store a fitted model; from now on it is the model in force."""
    session.add(row)
    session.flush()
    return row


def latest_model_id(session: Session) -> int | None:
    """The id of the model in force (the newest), or None before any training: one indexed
    look-up, cheap enough for every capture."""
    query = select(MatchModelRow.id).order_by(col(MatchModelRow.id).desc()).limit(1)
    return session.exec(query).first()


def model_by_id(session: Session, model_id: int) -> MatchModelRow | None:
    return session.get(MatchModelRow, model_id)
