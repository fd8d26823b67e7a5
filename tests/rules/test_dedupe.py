"""The `[dedupe]` table's rules (bot/rules/dedupe.py): defaults, what it accepts, and where a bad
value sits, so the loader can name its line."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.rules.checks import Invalid
from bot.rules.dedupe import FIELDS, MatchRules


def test_the_dedupe_table_itself_is_accepted() -> None:
    assert MatchRules.from_toml({"auto_merge": 0.9}).auto_merge == 0.9


def test_a_rules_file_without_dedupe_gives_the_defaults() -> None:
    rules = MatchRules.from_toml(tomllib.loads("[scoring]\nopen = 1\n"))
    assert rules == MatchRules()


@pytest.mark.parametrize(
    "table",
    [
        {"dedupe": {"auto_merge": 0.5, "review": 0.8}},
        {"dedupe": {"automerge": 0.9}},
        {"dedupe": {"weights": {"fax": 1.0}}},
        {"dedupe": {"weights": {"phone": -1.0}}},
        {"dedupe": {"weights": {"phone": "high"}}},
        {"dedupe": {"review": "low"}},
        {"dedupe": "strict"},
    ],
)
def test_bad_rules_are_refused(table: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ValueError):
        MatchRules.from_toml(table)


def test_the_readme_dedupe_table_is_valid() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```toml\n")[1:]]
    [example] = [block for block in blocks if "[dedupe]" in block]
    rules = MatchRules.from_toml(tomllib.loads(example))
    assert (rules.auto_merge, rules.review, rules.survivorship) == (0.85, 0.70, "newest")
    assert rules.weights["street"] == 4.0


@pytest.mark.parametrize(
    ("table", "path"),
    [
        ({"dedupe": {"auto_merge": 0.5, "review": 0.8}}, ("dedupe",)),
        ({"dedupe": {"review": -0.1}}, ("dedupe", "review")),
        ({"dedupe": {"automerge": 0.9}}, ("dedupe", "automerge")),
        ({"dedupe": {"weights": {"fax": 1.0}}}, ("dedupe", "weights", "fax")),
        ({"dedupe": {"weights": {"phone": -1.0}}}, ("dedupe", "weights", "phone")),
        ({"dedupe": {"weights": {"phone": "high"}}}, ("dedupe", "weights", "phone")),
        ({"dedupe": {"max_block_size": True}}, ("dedupe", "max_block_size")),
        ({"dedupe": {"survivorship": "oldest"}}, ("dedupe", "survivorship")),
        ({"dedupe": "strict"}, ("dedupe",)),
    ],
)
def test_a_bad_value_says_where_it_sits(table: dict[str, object], path: tuple[str, ...]) -> None:
    with pytest.raises(Invalid) as caught:
        MatchRules.from_toml(table)
    assert caught.value.path == path


def test_rules_built_in_code_are_checked_the_same_way() -> None:
    with pytest.raises(ValueError, match="review <= auto_merge"):
        MatchRules(auto_merge=0.5, review=0.8)
    rules = MatchRules(weights={"name": 1}, source_priority=["form"])  # type: ignore[arg-type]
    assert set(rules.weights) == set(FIELDS) and rules.weights["phone"] == 0.0
    assert rules.source_priority == ("form",)
