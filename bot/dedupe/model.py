"""The Fellegi-Sunter match model: comparison levels per field, their m and u, and EM training.

Pure (no storage). Two leads compared field by field land each field on one *level* (names:
exact, close, similar, an initial, different; phone: same number, same without area code,
different; …), or on none when either side is empty (a missing field is no evidence). Each level
has an m probability (how often two records of one person land there) and a u probability (how
often two different people do); the level's match weight is log2(m / u) bits, and the pair's
weight is the prior's log-odds plus the weights of its fields: the waterfall
`leadbot lead why-duplicate` prints. The match probability is 2^w / (1 + 2^w).

Term frequencies: an exact agreement on a common value is worth less than on a rare one. When a
model was trained on a store, the exact level of names, city and postal code uses the value's
own frequency among the stored leads as its u ("Smith" agrees by chance far more often than
"Szczepański"), as Splink's term-frequency adjustment does.

Training (`train`), as Splink does it: u from random pairs of the store's leads (two random
leads are almost never one person); m and the prior by expectation-maximisation over the
candidate pairs blocking finds, u held fixed. The shipped defaults are the starting point and a
Dirichlet prior (pseudo-counts) on every m, so that a small store, or a field it rarely fills,
keeps sensible values. A level the data would turn against its meaning (an agreement that counts
against a match) keeps its default.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# field -> its levels, best first. The last level is "different".
LEVELS: dict[str, tuple[str, ...]] = {
    "first_name": ("exact", "close", "similar", "initial", "different"),
    "last_name": ("exact", "close", "similar", "different"),
    "email": ("exact", "similar local part", "different"),
    "phone": ("exact", "without area code", "different"),
    "company": ("exact", "close", "similar", "different"),
    "domain": ("exact", "different"),
    "street": ("exact", "close", "similar", "different"),
    "city": ("exact", "close", "different"),
    "postal_code": ("exact", "one character off", "different"),
    "state": ("exact", "different"),
    "country": ("exact", "different"),
    "title": ("close", "different"),
}
FIELDS: tuple[str, ...] = tuple(LEVELS)
# Fields whose exact level is adjusted by the value's term frequency.
TF_FIELDS = ("first_name", "last_name", "city", "postal_code")
# At most this many values per field are kept in the term-frequency tables.
TF_MAX_VALUES = 20_000

# The shipped m and u (probability of each level among pairs of one person / of two people),
# set from what person records look like in general: names are typed well most of the time, a
# person has several phone numbers and addresses, a random pair shares a first name about 1 in
# 100 times and a last name 1 in 500.
DEFAULT_M: dict[str, tuple[float, ...]] = {
    "first_name": (0.80, 0.08, 0.04, 0.03, 0.05),
    "last_name": (0.84, 0.08, 0.03, 0.05),
    "email": (0.55, 0.10, 0.35),
    "phone": (0.50, 0.10, 0.40),
    "company": (0.70, 0.12, 0.06, 0.12),
    "domain": (0.80, 0.20),
    "street": (0.70, 0.12, 0.10, 0.08),
    "city": (0.82, 0.08, 0.10),
    "postal_code": (0.80, 0.08, 0.12),
    "state": (0.92, 0.08),
    "country": (0.95, 0.05),
    "title": (0.55, 0.45),
}
DEFAULT_U: dict[str, tuple[float, ...]] = {
    "first_name": (0.010, 0.003, 0.015, 0.030, 0.942),
    "last_name": (0.002, 0.002, 0.010, 0.986),
    "email": (0.00001, 0.005, 0.99499),
    "phone": (0.002, 0.001, 0.997),
    "company": (0.005, 0.003, 0.010, 0.982),
    "domain": (0.005, 0.995),
    "street": (0.0005, 0.0005, 0.003, 0.996),
    "city": (0.02, 0.005, 0.975),
    "postal_code": (0.005, 0.02, 0.975),
    "state": (0.15, 0.85),
    "country": (0.30, 0.70),
    "title": (0.05, 0.95),
}
# Among the candidate pairs blocking finds, the share that are one person (before training).
DEFAULT_PRIOR = 0.002
# Pseudo-counts of the defaults in training: what a field's m falls back to with little data.
PSEUDO_PAIRS = 200.0
EM_ITERATIONS = 10

Pattern = tuple[int, ...]  # a level index per field of FIELDS, -1 = not compared


@dataclass(frozen=True, slots=True)
class Contribution:
    """One field's part of a pair's match weight: its level and the bits it adds."""

    field: str
    level: str
    bits: float
    note: str = ""  # "term frequency of 'smith' 1.2%", "swapped with the last name", …

    def describe(self) -> str:
        text = f"{self.field.replace('_', ' ')} {self.level} {self.bits:+.1f}"
        return f"{text} ({self.note})" if self.note else text


@dataclass
class MatchModel:
    """m and u per field and level, the prior, term frequencies, and where they came from."""

    m: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_M))
    u: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_U))
    prior: float = DEFAULT_PRIOR
    # field -> value -> share of the leads that have it (only trained models have them)
    tf: dict[str, dict[str, float]] = field(default_factory=dict)
    # the smallest share a value can have: one lead among those trained on
    tf_floor: float = 0.0
    trained_on: int = 0  # leads; 0 = the shipped defaults
    pairs: int = 0  # candidate pairs EM ran over
    # bits pinned by the rules file ([dedupe.pin]): field -> the exact level's weight
    pinned: dict[str, float] = field(default_factory=dict)
    _bits: dict[str, tuple[float, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._bits = {
            name: tuple(_log2_ratio(m, u) for m, u in zip(self.m[name], self.u[name], strict=True))
            for name in FIELDS
        }

    @property
    def prior_bits(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def bits(self, name: str, level: int, value: str = "") -> tuple[float, str]:
        """The weight of `name` landing on `level` (0 = best), with its note; `value` is the
        agreed value, for the term-frequency adjustment of an exact agreement."""
        if level == 0 and name in self.pinned:
            return self.pinned[name], "pinned by the rules file"
        if level == 0 and value and name in self.tf:
            share = self.tf[name].get(value) or self.tf_floor
            if share:
                bits = _log2_ratio(self.m[name][0], share)
                return bits, f"term frequency of {value!r} {share:.2%}"
        return self._bits[name][level], ""

    def with_pins(self, pins: Mapping[str, float]) -> MatchModel:
        """This model with the exact level of some fields pinned to given bits."""
        if not pins:
            return self
        return MatchModel(self.m, self.u, self.prior, self.tf, self.tf_floor, self.trained_on,
                          self.pairs, {**self.pinned, **pins})  # fmt: skip

    def as_data(self) -> dict[str, Any]:
        return {"m": {k: list(v) for k, v in self.m.items()},
                "u": {k: list(v) for k, v in self.u.items()}, "prior": self.prior,
                "tf": self.tf, "tf_floor": self.tf_floor, "trained_on": self.trained_on,
                "pairs": self.pairs}  # fmt: skip

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> MatchModel:
        """A model saved by `as_data`; fields it does not know keep their defaults."""
        m, u = dict(DEFAULT_M), dict(DEFAULT_U)
        for name in FIELDS:
            if len(data.get("m", {}).get(name, ())) == len(LEVELS[name]):
                m[name] = tuple(float(x) for x in data["m"][name])
                u[name] = tuple(float(x) for x in data["u"][name])
        return cls(m, u, float(data.get("prior", DEFAULT_PRIOR)), dict(data.get("tf", {})),
                   float(data.get("tf_floor", 0.0)), int(data.get("trained_on", 0)),
                   int(data.get("pairs", 0)))  # fmt: skip

    def summary(self) -> list[str]:
        """One line per field: each level's weight in bits, for `dedupe train`."""
        lines = [f"prior {self.prior:.4%} of candidate pairs ({self.prior_bits:+.1f} bits)"]
        for name in FIELDS:
            levels = ", ".join(
                f"{level} {bits:+.1f}"
                for level, bits in zip(LEVELS[name], self._bits[name], strict=True)
            )
            tf = f"; term frequencies of {len(self.tf[name]):,} values" if name in self.tf else ""
            lines.append(f"{name}: {levels}{tf}")
        return lines


def _log2_ratio(m: float, u: float) -> float:
    return math.log2(max(m, 1e-9) / max(u, 1e-9))


def probability(bits: float) -> float:
    """The match probability of a total match weight in bits."""
    if bits > 60:
        return 1.0
    if bits < -60:
        return 0.0
    odds = 2.0**bits
    return odds / (1.0 + odds)


DEFAULT_MODEL = MatchModel()


# =============================================================================================
# Training
# =============================================================================================


def term_frequencies(
    values: Mapping[str, Iterable[str]],
) -> tuple[dict[str, dict[str, float]], float]:
    """(field -> value -> share, floor) from each field's values over the leads."""
    tables: dict[str, dict[str, float]] = {}
    floor = 1.0
    for name, column in values.items():
        counts = Counter(value for value in column if value)
        total = sum(counts.values())
        if not total:
            continue
        tables[name] = {value: n / total for value, n in counts.most_common(TF_MAX_VALUES)}
        floor = min(floor, 1.0 / total)
    return tables, (floor if tables else 0.0)


def estimate_u(
    patterns: Iterable[Pattern],
) -> dict[str, tuple[float, ...]]:
    """u per field and level from the patterns of random pairs (Splink's random sampling):
    the share of compared random pairs on each level, smoothed towards the defaults."""
    counts = {name: [0.0] * len(LEVELS[name]) for name in FIELDS}
    for pattern in patterns:
        for position, level in enumerate(pattern):
            if level >= 0:
                counts[FIELDS[position]][level] += 1
    u: dict[str, tuple[float, ...]] = {}
    for name in FIELDS:
        row = counts[name]
        total = sum(row)
        # a default worth 1,000 random pairs, so that one chance agreement is no estimate
        prior_weight = 1000.0
        u[name] = tuple(
            (n + prior_weight * d) / (total + prior_weight)
            for n, d in zip(row, DEFAULT_U[name], strict=True)
        )
    return u


def expectation_maximisation(
    patterns: Mapping[Pattern, int],
    u: Mapping[str, Sequence[float]],
    start: MatchModel = DEFAULT_MODEL,
    iterations: int = EM_ITERATIONS,
) -> tuple[dict[str, tuple[float, ...]], float]:
    """(m, prior) by EM over candidate-pair patterns (pattern -> how many pairs), u fixed."""
    m = {name: list(start.m[name]) for name in FIELDS}
    prior = min(max(start.prior, 1e-4), 0.5)
    if not patterns:
        return {k: tuple(v) for k, v in m.items()}, prior
    items = list(patterns.items())
    total = sum(count for _, count in items)
    for _ in range(iterations):
        sums = {name: [0.0] * len(LEVELS[name]) for name in FIELDS}
        matched = 0.0
        for pattern, count in items:
            log_m = math.log(prior)
            log_u = math.log(1.0 - prior)
            for position, level in enumerate(pattern):
                if level >= 0:
                    name = FIELDS[position]
                    log_m += math.log(max(m[name][level], 1e-12))
                    log_u += math.log(max(u[name][level], 1e-12))
            diff = log_u - log_m
            p = 1.0 / (1.0 + math.exp(diff)) if diff < 700 else 0.0
            weight = p * count
            matched += weight
            for position, level in enumerate(pattern):
                if level >= 0:
                    sums[FIELDS[position]][level] += weight
        prior = min(max(matched / total, 1e-6), 0.999)
        for name in FIELDS:
            row = sums[name]
            denominator = sum(row) + PSEUDO_PAIRS
            m[name] = [
                (n + PSEUDO_PAIRS * d) / denominator
                for n, d in zip(row, DEFAULT_M[name], strict=True)
            ]
    return {k: tuple(v) for k, v in m.items()}, prior


def _sane(m: Sequence[float], u: Sequence[float], default_m: Sequence[float]) -> tuple[float, ...]:
    """m as trained, unless it turns the best level into evidence against a match or the
    worst into evidence for one (EM found some other split of the pairs): then the default."""
    if m[0] <= u[0] or m[-1] >= u[-1]:
        return tuple(default_m)
    return tuple(m)


def train(
    leads: Sequence[Any],
    candidate_pairs: Iterable[tuple[int, int]],
    compare: Callable[[Any, Any], Pattern],
    tf_values: Mapping[str, Iterable[str]],
    *,
    random_pairs: int = 50_000,
    seed: int = 0,
) -> MatchModel:
    """Fit a model on a store's own leads, without labels.

    `leads` are prepared leads, `candidate_pairs` positions into it (what blocking finds),
    `compare(a, b)` a pair's pattern, `tf_values` each term-frequency field's values over the
    leads. u comes from `random_pairs` random pairs, m and the prior from EM on the candidates.
    """
    rng = random.Random(seed)
    n = len(leads)
    sample: list[Pattern] = []
    if n >= 2:
        for _ in range(random_pairs):
            i, j = rng.randrange(n), rng.randrange(n)
            if i != j:
                sample.append(compare(leads[i], leads[j]))
    u = estimate_u(sample)
    counts: Counter[Pattern] = Counter(compare(leads[i], leads[j]) for i, j in candidate_pairs)
    m, prior = expectation_maximisation(counts, u)
    m = {name: _sane(m[name], u[name], DEFAULT_M[name]) for name in FIELDS}
    tf, floor = term_frequencies(tf_values)
    return MatchModel(m, u, prior, tf, floor, trained_on=n, pairs=sum(counts.values()))
