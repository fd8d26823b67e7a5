"""Matching a batch of imported rows at once: the store-backed matcher's algorithm over an
in-memory index of the blocks the batch's rows fall in.

Capture asks its matcher two things per row: the stored lead of the address, and the duplicates
of a new lead. `BatchMatcher.load` reads, for a whole batch (hundreds of rows), the leads of its
addresses (one query per 500 addresses), the sizes of the blocks its rows' keys fall in (one
GROUP BY), the members of the small ones and the normal forms of the best candidates; each row
is then answered from memory. Leads the batch creates join the index as they are made, so a
row matches an earlier row of the same file as it would match a stored lead; a survivor a merge
changed is read again from the session. The decisions are those of `store_match.find_matches`
(the same blocking keys, block-size limit, ranking, candidate limit and scores).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlmodel import Session

import storage.duplicates
import storage.imports
from bot.dedupe.index import person_of
from bot.dedupe.match import (
    Match,
    Person,
    Prepared,
    _compare,
    from_form,
    keys_of,
    prepare,
    rank_candidates,
    score_prepared,
)
from bot.dedupe.store_match import Matcher, with_model
from bot.leads import fields
from bot.leads.capture import Captured, Draft, Item, capture_many
from bot.rules.dedupe import MatchRules
from bot.rules.file import Rules
from storage.models import Lead

CHUNK = 500


class BatchMatcher(Matcher):
    """Answers capture's questions for one batch of rows from what `load` read."""

    def __init__(
        self,
        rules: MatchRules,
        before_change: Callable[[Lead], None] = lambda lead: None,
        on_new: Callable[[Lead], None] = lambda lead: None,
    ) -> None:
        self.rules = rules
        # Called with a stored lead a merge is about to change (the journal keeps its before).
        self.before_change = before_change
        # Called with every lead capture creates, before it is matched (merged away or not).
        self.on_new = on_new
        self._by_email: dict[str, Lead | None] = {}
        self._sizes: dict[str, int] = {}
        self._members: dict[str, set[int]] = {}
        self._forms: dict[int, Prepared] = {}
        self._new_members: dict[str, set[int]] = {}
        self._stale: set[int] = set()
        self._loaded_keys: set[str] = set()
        self._prepared: dict[Person, Prepared] = {}
        self.queries = 0

    def load(self, session: Session, drafts: Iterable[Draft]) -> None:
        """Read what the batch's rows will ask for (and forget the last batch)."""
        drafts = list(drafts)
        self._by_email, self._members, self._forms = {}, {}, {}
        self._new_members, self._stale, self._prepared = {}, set(), {}
        self._sizes, self._loaded_keys = {}, set()
        addresses = {draft.address for draft in drafts}
        found = storage.imports.leads_by_emails(session, addresses)
        self.queries += 1 + len(addresses) // CHUNK
        self._by_email = {address: found.get(address) for address in addresses}
        # A draft with a value longer than its field holds is held by intake before matching:
        # not normalised here (a 5 MB company name would take seconds).
        fits = [draft for draft in drafts if not _too_long(draft)]
        probes = [self.prepare(_person(draft, -i)) for i, draft in enumerate(fits, start=1)]
        keys = set().union(*(keys_of(probe) for probe in probes)) if probes else set()
        self._load_keys(session, keys)
        wanted: set[int] = set()
        for probe in probes:
            ranked = rank_candidates(
                self._blocks(keys_of(probe), None), None, self.rules.max_candidates
            )
            wanted.update(int(key) for key, _ in ranked)
        self._load_forms(session, wanted)

    def prepare(self, person: Person) -> Prepared:
        """`prepare`, once per set of values in a batch: a row's probe, its new lead and the
        lead indexed are the same person (phone parsing alone is most of the cost). Capture
        uses it too when it indexes the batch's leads."""
        anonymous = replace(person, key=0)
        prepared = self._prepared.get(anonymous)
        if prepared is None:
            prepared = self._prepared[anonymous] = prepare(anonymous)
        return replace(prepared, key=person.key)

    def _load_keys(self, session: Session, keys: set[str]) -> None:
        keys = keys - self._loaded_keys
        ordered = sorted(keys)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            sizes = storage.duplicates.block_sizes(session, chunk)
            self._sizes.update(sizes)
            small = [key for key, size in sizes.items() if size <= self.rules.max_block_size]
            for key, members in storage.duplicates.block_members(session, small).items():
                self._members[key] = set(members)
            self.queries += 2
        self._loaded_keys |= keys

    def _load_forms(self, session: Session, lead_ids: set[int]) -> None:
        missing = sorted(lead_id for lead_id in lead_ids if lead_id not in self._forms)
        for start in range(0, len(missing), CHUNK):
            forms = storage.duplicates.match_forms(session, missing[start : start + CHUNK])
            self.queries += 1
            self._forms.update({lead_id: from_form(form) for lead_id, form in forms.items()})

    def _blocks(self, keys: Iterable[str], exclude: int | None) -> dict[str, set[int]]:
        blocks: dict[str, set[int]] = {}
        for key in keys:
            members = self._members.get(key, set()) | self._new_members.get(key, set())
            size = max(self._sizes.get(key, 0), len(self._members.get(key, ()))) + len(
                self._new_members.get(key, set()) - self._members.get(key, set())
            )
            if not members or size > self.rules.max_block_size:
                continue
            members.discard(exclude)  # type: ignore[arg-type]
            if members:
                blocks[key] = members
        return blocks

    # --- what capture asks -------------------------------------------------------------------

    def existing(self, session: Session, address: str) -> Lead | None:
        if address not in self._by_email:  # not in the batch that was loaded: ask the store
            return super().existing(session, address)
        lead = self._by_email[address]
        hops = 0
        while lead is not None and lead.merged_into_id is not None and hops < 20:
            lead = session.get(Lead, lead.merged_into_id)
            hops += 1
        return lead

    def matches(self, session: Session, lead: Lead, rules: MatchRules) -> list[Match]:
        assert lead.id is not None
        rules = with_model(session, rules)  # the store's trained model, as find_matches uses
        self._refresh(session)
        self.on_new(lead)
        if self._by_email.get(lead.email) is None:
            self._by_email[lead.email] = lead  # the next row with this address lands here
        probe = self.prepare(person_of(lead))
        keys = keys_of(probe)
        self._load_keys(session, keys)
        ranked = rank_candidates(self._blocks(keys, lead.id), lead.id, rules.max_candidates)
        self._load_forms(session, {int(key) for key, _ in ranked})
        # The score without reasons first (an upper bound: two different people stop at the
        # name), as `match.scan` does; only a candidate that may reach `review` is scored with
        # its reasons. The same matches as scoring every candidate, at a fraction of the cost.
        forms = [self._forms[int(key)] for key, _ in ranked if int(key) in self._forms]
        matches = [
            score_prepared(probe, form, rules)
            for form in forms
            if _compare(probe, form, rules, explain=False)[0] >= rules.review
        ]
        matches = [match for match in matches if match.score >= rules.review]
        # the same probability (two sure matches): the one with more evidence first
        matches.sort(key=lambda match: (-match.score, -match.bits, match.key))
        if matches and matches[0].verdict == "merge":
            survivor = session.get(Lead, int(matches[0].key))
            if survivor is not None:
                self.before_change(survivor)
                self._stale.add(int(matches[0].key))
        return matches

    def indexed(self, lead: Lead) -> None:
        assert lead.id is not None
        self._add(self.prepare(person_of(lead)), lead.id)

    def _add(self, prepared: Prepared, lead_id: int) -> None:
        self._forms[lead_id] = prepared
        for key in keys_of(prepared):
            self._new_members.setdefault(key, set()).add(lead_id)

    def _refresh(self, session: Session) -> None:
        """Survivors of the merges since the last row: their fields (and keys) changed."""
        for lead_id in self._stale:
            lead = session.get(Lead, lead_id)
            if lead is not None and lead.merged_into_id is None:
                self._add(self.prepare(person_of(lead)), lead_id)
        self._stale = set()


def capture_batch(
    session: Session, items: Sequence[Item], *, rules: Rules, **options: Any
) -> list[Captured | Exception]:
    """`capture_many` with a batch matcher loaded with the items' drafts (and loaded again if
    the batch rolls back): what the doors that take a batch at a time (the inbox worker, the
    form worker) call. `options` are capture_many's."""
    drafts = [draft for draft, _, _ in items]
    matcher = BatchMatcher(rules.match)
    matcher.load(session, drafts)
    return capture_many(
        session,
        items,
        rules=rules,
        matcher=matcher,
        rolled_back=functools.partial(matcher.load, session, drafts),
        **options,
    )


def _too_long(draft: Draft) -> bool:
    return any(
        len(value) > fields.BY_NAME[name].max_chars
        for name, value in draft.values.items()
        if name in fields.BY_NAME
    )


def _person(draft: Draft, key: int) -> Person:
    values: dict[str, Any] = {
        name: draft.values.get(name, "") for name in fields.MATCHED if name != "email"
    }
    return Person(key=key, email=draft.address, **values)
