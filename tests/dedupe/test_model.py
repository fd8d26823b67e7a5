"""The Fellegi-Sunter model: levels and weights, term frequencies, EM on unlabelled leads, the
waterfall, and the rules file pinning a weight."""

from __future__ import annotations

import random
import tomllib
from dataclasses import replace

import pytest

from bot.dedupe.match import MatchRules, Person, cluster, pair_metrics, score
from bot.dedupe.model import DEFAULT_MODEL, LEVELS, MatchModel, probability
from bot.dedupe.train import fit

FIRST = tuple(
    [
        "anna",
        "ben",
        "chloe",
        "david",
        "emma",
        "felix",
        "grace",
        "hugo",
        "iris",
        "jonas",
        "karla",
        "liam",
        "mila",
        "noah",
        "olga",
        "piotr",
        "quinn",
        "rosa",
        "sven",
        "tara",
    ]
)
LAST = tuple(
    [
        "smith",
        "smith",
        "smith",
        "smith",
        "nguyen",
        "okafor",
        "szczepanski",
        "lindqvist",
        "moreau",
        "keller",
        "rossi",
        "tanaka",
        "haddad",
        "novak",
        "brennan",
        "ortega",
    ]
)
STREETS = ("oak street", "mill road", "station lane", "park avenue", "king street", "elm way")


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def people(n: int, seed: int = 3) -> tuple[list[Person], list[set[int]]]:
    """`n` people, a third of them again with a typo in a name or the street, or a missing
    field: (rows, true clusters)."""
    rng = random.Random(seed)
    rows: list[Person] = []
    truth: list[set[int]] = []
    for _ in range(n):
        person = Person(
            key=len(rows),
            first_name=rng.choice(FIRST),
            last_name=rng.choice(LAST),
            street=f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
            city=rng.choice(("leeds", "york", "hull", "bath")),
            postal_code=f"{rng.randint(1000, 9999)}",
        )
        rows.append(person)
        group = {person.key}
        if rng.random() < 0.35:
            change = rng.choice(("first_name", "last_name", "street", "city"))
            value = "" if change == "city" else typo(getattr(person, change), rng)
            rows.append(replace(person, key=len(rows), **{change: value}))
            group.add(len(rows) - 1)
        truth.append(group)
    return rows, truth


def test_each_field_lands_on_a_level_and_the_waterfall_adds_up() -> None:
    a = Person(key=1, first_name="Jane", last_name="Doe", phone="+1 415 555 0134",
               street="1 Market St", city="Boston")  # fmt: skip
    b = replace(a, key=2, first_name="Jnae", phone="415 555 0134", city="")
    match = score(a, b)
    levels = {c.field: c.level for c in match.contributions}
    assert levels == {"first_name": "similar", "last_name": "exact",
                      "phone": "without area code", "street": "exact"}  # fmt: skip
    assert match.bits == pytest.approx(
        match.prior_bits + sum(c.bits for c in match.contributions), abs=0.05
    )
    assert match.score == pytest.approx(probability(match.bits), abs=1e-4)
    lines = match.waterfall()
    assert lines[0].startswith("prior -") and lines[-1] == f"score {match.percent}% → merge"
    assert any(line.startswith("street exact +") for line in lines)


def test_swapped_names_and_a_missing_field_are_named_in_the_waterfall() -> None:
    a = Person(key=1, first_name="Katherine", last_name="Johnson", street="4 Elm Way")
    swapped = score(a, replace(a, key=2, first_name="Johnson", last_name="Katherine"))
    assert {c.note for c in swapped.contributions if "name" in c.field} == {
        "swapped with the last name"
    }
    missing = score(a, replace(a, key=2, street=""))
    assert "street" not in {c.field for c in missing.contributions}


def test_term_frequencies_make_a_rare_name_worth_more_than_a_common_one() -> None:
    rows, _ = people(300)
    model = fit(rows)
    common, _ = model.bits("last_name", 0, "smith")
    rare, note = model.bits("last_name", 0, "szczepanski")
    assert rare > common + 1.0
    assert note.startswith("term frequency of 'szczepanski'")


def test_em_learns_from_unlabelled_leads_and_keeps_levels_in_their_order() -> None:
    rows, truth = people(400)
    model = fit(rows)
    assert model.trained_on == len(rows) and model.pairs > 0
    assert 0.0 < model.prior < 1.0
    for name, levels in LEVELS.items():
        bits = [model.bits(name, level)[0] for level in range(len(levels))]
        assert bits[0] > 0 > bits[-1], (name, bits)
    rules = replace(MatchRules(), model=model)
    precision, recall, _ = pair_metrics(cluster(rows, rules), truth)
    assert precision >= 0.9 and recall >= 0.8, (precision, recall)
    again = MatchModel.from_data(model.as_data())
    assert again.bits("last_name", 0, "smith") == model.bits("last_name", 0, "smith")


def test_the_rules_file_can_pin_a_weight() -> None:
    rules = MatchRules.from_toml(tomllib.loads("[dedupe.pin]\nphone = -2.0\n"))
    a = Person(key=1, first_name="Ann", last_name="Lee", phone="+1 415 555 0134")
    [phone] = [c for c in score(a, replace(a, key=2), rules).contributions if c.field == "phone"]
    assert (phone.bits, phone.note) == (-2.0, "pinned by the rules file")
    with pytest.raises(ValueError, match="unknown field 'fone'"):
        MatchRules.from_toml(tomllib.loads("[dedupe.pin]\nfone = 1.0\n"))
    assert DEFAULT_MODEL.trained_on == 0
