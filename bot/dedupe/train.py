"""Fit the match model on a batch of leads: the candidate pairs blocking finds, random pairs,
and EM over their comparison patterns (bot/dedupe/model.py), without labels.

Pure (no storage): `leadbot dedupe train`, `serve`'s refit and the benchmark hand it the
store's (or a file's) leads and save or use what comes back.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.dedupe.match import BlockIndex, Person, Prepared, _compare, prepare
from bot.dedupe.model import FIELDS, LEVELS, MatchModel, Pattern, train
from bot.rules.dedupe import MatchRules

# Leads whose candidates EM looks at, at most (a random sample of them in a larger store).
MAX_PROBES = 50_000
# Random pairs that estimate u.
RANDOM_PAIRS = 50_000

_POSITION = {name: position for position, name in enumerate(FIELDS)}
_LEVEL_INDEX = {name: {level: i for i, level in enumerate(levels)} for name, levels in
                LEVELS.items()}  # fmt: skip


def pattern_of(a: Prepared, b: Prepared, rules: MatchRules) -> Pattern:
    """The level of each field for one pair (-1: not compared), as the model sees it."""
    levels = [-1] * len(FIELDS)
    for part in _compare(a, b, rules, explain=True)[2]:
        levels[_POSITION[part.field]] = _LEVEL_INDEX[part.field][part.level]
    return tuple(levels)


def fit(
    persons: Sequence[Person],
    rules: MatchRules | None = None,
    *,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> MatchModel:
    """A model fitted on `persons`: u from random pairs, m and the prior by EM over the best
    `max_candidates` candidates of up to `MAX_PROBES` leads, term frequencies of names, city
    and postal code over all of them. `progress(n)` is called per 1,000 probes."""
    rules = replace(rules or MatchRules(), model=None, pin={})
    prepared = [replace(prepare(person), key=i) for i, person in enumerate(persons)]
    index = BlockIndex()
    for lead in prepared:
        index.add_prepared(lead)
    rng = random.Random(seed)
    positions = list(range(len(prepared)))
    if len(positions) > MAX_PROBES:
        positions = rng.sample(positions, MAX_PROBES)
    pairs: set[tuple[int, int]] = set()
    for done, i in enumerate(positions, start=1):
        ranked = index._ranked(prepared[i], rules.max_block_size, rules.max_candidates)
        pairs.update((min(i, j), max(i, j)) for j, _ in ranked)  # type: ignore[type-var]
        if progress is not None and done % 1000 == 0:
            progress(1000)
    if progress is not None and len(positions) % 1000:
        progress(len(positions) % 1000)

    def compare(a: Prepared, b: Prepared) -> Pattern:
        return pattern_of(a, b, rules)

    tf_values = {
        "first_name": [p.first for p in prepared],
        "last_name": [p.last for p in prepared],
        "city": [p.city for p in prepared],
        "postal_code": [p.postal_code for p in prepared],
    }
    return train(
        prepared,
        sorted(pairs),
        compare,
        tf_values,
        random_pairs=min(RANDOM_PAIRS, 20 * len(prepared)) if len(prepared) > 1 else 0,
        seed=seed,
    )
