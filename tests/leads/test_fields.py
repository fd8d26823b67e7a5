"""The person fields are declared once (bot.leads.fields): the store, the matcher, the `--json`
shape and merge all follow the declaration, so a new field cannot be half-added."""

from __future__ import annotations

import dataclasses

from bot.dedupe.match import MatchRules, Person
from bot.dedupe.merging import survivor_values
from bot.leads import fields
from bot.leads.views import lead_dict
from storage.models import Lead


def test_every_declared_field_is_a_column_of_the_lead_table() -> None:
    columns = set(Lead.__table__.columns.keys())  # type: ignore[attr-defined]
    missing = [name for name in fields.BY_NAME if name not in columns]
    assert missing == []  # a declaration needs its migration


def test_the_matcher_compares_exactly_the_fields_declared_as_matched() -> None:
    person = {f.name for f in dataclasses.fields(Person)} - {"key"}
    assert person == set(fields.MATCHED)


def test_the_json_shape_carries_every_field_in_declared_order() -> None:
    lead = Lead(email="ann@example.io", reply_token="t", id=1,
                **{name: f"v-{name}" for name in fields.NAMES})  # fmt: skip
    keys = list(lead_dict(lead))
    assert keys[1 : 2 + len(fields.NAMES)] == ["email", *fields.NAMES]
    assert all(lead_dict(lead)[name] == f"v-{name}" for name in fields.NAMES)


def test_a_merge_can_bring_over_every_person_field() -> None:
    survivor = Lead(email="ann@example.io", reply_token="a", id=1)
    merged = Lead(email="ann@other.io", reply_token="b", id=2,
                  **{name: f"v-{name}" for name in fields.NAMES})  # fmt: skip
    changes = survivor_values(survivor, merged, MatchRules())
    assert {name: changes.get(name) for name in fields.NAMES} == {
        name: f"v-{name}" for name in fields.NAMES
    }
