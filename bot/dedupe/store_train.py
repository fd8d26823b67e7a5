"""Fit the match model on the store's own leads and save it; refit when the store has grown.

`leadbot dedupe train` calls `train`; `serve` calls `refit_if_grown` now and then (a runner), so
the model follows the store: a store that grew by `GROWTH` since the model in force was fitted
(or that has `MIN_LEADS` and no model yet) is fitted again. Capture and the scan read the newest
saved model (`store_match.with_model`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import storage.duplicates
from bot.dedupe.model import MatchModel
from bot.dedupe.scan import load_people
from bot.dedupe.store_match import model_saved
from bot.dedupe.train import fit
from bot.rules.dedupe import MatchRules
from storage.engine import Store
from storage.models import MatchModelRow

# A store with fewer leads keeps the shipped model: EM needs pairs to learn from.
MIN_LEADS = 200
# Refit when the store holds this many times the leads the model was fitted on.
GROWTH = 1.25

Progress = Callable[[str, int, int], None]


def _quiet(phase: str, total: int, advance: int) -> None:
    return None


@dataclass
class Trained:
    model_id: int
    model: MatchModel
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model_id, "leads": self.model.trained_on,
                "pairs": self.model.pairs, "prior": round(self.model.prior, 6),
                "seconds": round(self.seconds, 2), "weights": self.model.summary()}  # fmt: skip


def train(store: Store, rules: MatchRules, trained_by: str, progress: Progress = _quiet) -> Trained:
    """Fit on every active lead (EM over their candidate pairs, no labels) and save it as the
    model in force."""
    started = time.perf_counter()
    people = load_people(store, progress)
    probes = min(len(people), 50_000)
    progress("train", probes, 0)
    model = fit(people, rules, progress=lambda n: progress("train", probes, n))
    with store.transaction() as session:
        row = storage.duplicates.save_model(
            session,
            MatchModelRow(
                trained_by=trained_by,
                leads=model.trained_on,
                pairs=model.pairs,
                params=model.as_data(),
            ),
        )
        assert row.id is not None
        model_id = row.id
    model_saved(store.engine)
    return Trained(model_id, model, time.perf_counter() - started)


def refit_if_grown(store: Store, rules: MatchRules, trained_by: str = "serve") -> Trained | None:
    """Fit again when the store outgrew the model in force (see the module docstring)."""
    with store.reading() as session:
        leads = storage.duplicates.active_lead_count(session)
        model_id = storage.duplicates.latest_model_id(session)
        row = storage.duplicates.model_by_id(session, model_id) if model_id else None
        fitted_on = row.leads if row is not None else 0
    if leads < MIN_LEADS or (fitted_on and leads < fitted_on * GROWTH):
        return None
    return train(store, rules, trained_by)
