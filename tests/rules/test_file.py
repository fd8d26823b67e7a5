"""The rules file: what it understands, the line and reason of a bad one, and reload on change."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from bot.rules.dedupe import MatchRules
from bot.rules.file import (
    RulesError,
    RulesFile,
    default_rules,
    describe,
    load,
    load_file,
    locate,
    parse_rules,
)

GOOD = """\
[scoring]
half_life_days = 7

[scoring.points]
enquiry = 30
open = 1

[mql]
min_score = 20
min_grade = "C"
enquiries_enter_queue = true

[territories]
dach = ["DE", "AT", "CH"]

[assignment]
default_sla_minutes = 45
manager = "Meg@Sales.test"

[[assignment.rule]]
name = "dach enterprise"
when = { territory = "dach", company_size_min = 200, grade = ["A", "B"] }
pool = ["ann@sales.test", "bob@sales.test"]
strategy = "weighted_round_robin"
sla_minutes = 15

[[assignment.rule]]
name = "named account"
when = { industry = ["Banking"] }
rep = "carol@sales.test"

[[assignment.rule]]
name = "everyone else"
pool = "all"
strategy = "least_loaded"
skills = ["Spanish"]
"""


def error_of(text: str) -> RulesError:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.toml")
    return caught.value


def test_the_embedded_default_is_valid_and_offers_to_everyone() -> None:
    rules = default_rules()
    assert rules.source == "embedded default"
    assert [rule.name for rule in rules.rules] == ["everyone"]
    assert rules.rules[0].pool_is_everyone and rules.rules[0].strategy == "round_robin"
    # An inbound enquiry is a hand raised: it reaches sales out of the box.
    assert rules.mql.enquiries_enter_queue is True
    assert rules.scoring.points["email.enquiry"] == 25


def test_a_good_file_is_understood() -> None:
    rules = parse_rules(GOOD, "rules.toml")
    assert rules.scoring.half_life_days == 7
    # Points the file leaves out keep their default (README: a partial section keeps the rest).
    assert rules.scoring.points == {**default_rules().scoring.points,
                                    "email.enquiry": 30, "email.opened": 1}  # fmt: skip
    assert (rules.mql.min_score, rules.mql.min_grade, rules.mql.enquiries_enter_queue) == (
        20, "C", True)  # fmt: skip
    dach, named, rest = rules.rules
    assert dach.when == {"territory": frozenset({"dach"}), "company_size_min": 200,
                         "grade": frozenset({"a", "b"})}  # fmt: skip
    assert dach.pool == ("ann@sales.test", "bob@sales.test") and dach.sla_minutes == 15
    assert named.rep == "carol@sales.test" and named.sla_minutes == 45
    assert rest.strategy == "least_loaded" and rest.skills == ("spanish",)
    assert rules.manager == "meg@sales.test"
    assert rules.territories_of("at") == ("dach",)
    # Sections the file leaves out are the embedded default's.
    assert rules.grading == default_rules().grading


def test_check_prints_what_it_understood() -> None:
    text = describe(parse_rules(GOOD, "rules.toml"))
    assert "rules from rules.toml" in text
    assert "points: enquiry 30, reply 15, open 1, click 5, form_post 20, page_visit 1; " in text
    assert "mql: score ≥ 20 and grade C or better; inbound enquiries enter the queue" in text
    assert "territories: dach = DE, AT, CH" in text
    assert (
        "1. dach enterprise: when territory dach and company_size_min 200 and grade a, b "
        "→ pool ann@sales.test, bob@sales.test by weighted_round_robin (SLA 15 min)"
    ) in text
    assert "2. named account: when industry banking → carol@sales.test (SLA 45 min)" in text
    assert (
        "3. everyone else: any lead → every rep by least_loaded (SLA 45 min; skills spanish)"
        in (text)
    )


def test_a_syntax_error_names_its_line() -> None:
    error = error_of("[scoring]\nhalf_life_days = 7\n\n[mql\nmin_score = 3\n")
    assert error.line == 4
    assert str(error).startswith("rules.toml:4: TOML syntax: ")


@pytest.mark.parametrize(
    ("change", "line", "reason"),
    [
        (("strategy = \"least_loaded\"", "strategy = \"lottery\""), 35,
         "assignment.rule[3].strategy: unknown strategy 'lottery'"),
        (("company_size_min = 200", "company_size_min = \"big\""), 22,
         "assignment.rule[1].when.company_size_min: must be a number, not 'big'"),
        (("grade = [\"A\", \"B\"]", "colour = \"red\""), 22,
         "assignment.rule[1].when.colour: unknown condition"),
        (("rep = \"carol@sales.test\"", ""), 27,
         "assignment.rule[2]: rule 'named account' needs a rep or a pool"),
        (("open = 1", "opens = 1"), 6, "scoring.points.opens: unknown key"),
        (("min_grade = \"C\"", "min_grade = \"E\""), 10,
         "mql.min_grade: must be one of A, B, C, D"),
        (("territory = \"dach\"", "territory = \"nordics\""), 22,
         "no territory 'nordics' in [territories]"),
        (("half_life_days = 7", "half_life_days = 0"), 2,
         "scoring.half_life_days: must be at least 0.01"),
        (("name = \"named account\"", "name = \"everyone else\""), 33,
         "rule 'everyone else' is named twice"),
    ],
)  # fmt: skip
def test_a_meaningless_value_names_its_line_and_reason(
    change: tuple[str, str], line: int, reason: str
) -> None:
    error = error_of(GOOD.replace(*change))
    assert error.line == line, str(error)
    assert reason in error.reason


def test_locate_reads_headers_inline_tables_and_quoted_keys() -> None:
    text = '[a]\nx = 1\n"b.c" = { d = 2 }\n[[r]]\nn = 1\n[[r]]\nn = [\n  1,\n]\nm = 2\n'
    assert locate(text, ("a", "x")) == 2
    assert locate(text, ("a", "b.c", "d")) == 3
    assert locate(text, ("r", 1, "m")) == 10
    assert locate(text, ("r", 1, "zzz")) == 6  # the nearest written parent


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_the_file_reloads_on_change_and_a_bad_edit_keeps_the_last_good_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.toml"
    write(path, GOOD, 1_000_000)
    source = RulesFile(path, check_every=0)
    assert source.get().rules[0].name == "dach enterprise"

    write(path, GOOD.replace("min_score = 20", "min_score = 35"), 1_000_010)
    assert source.get().mql.min_score == 35  # no restart

    with caplog.at_level(logging.ERROR, logger="bot.rules.file"):
        write(path, GOOD.replace('strategy = "least_loaded"', "strategy = 7"), 1_000_020)
        rules = source.get()
    assert rules.mql.min_score == 35 and rules.rules[2].strategy == "least_loaded"
    assert source.error is not None and source.error.line == 35
    assert "the last good rules stay in force" in caplog.text

    write(path, GOOD.replace("min_score = 20", "min_score = 5"), 1_000_030)
    assert source.get().mql.min_score == 5 and source.error is None


def test_a_missing_file_means_the_embedded_default(tmp_path: Path) -> None:
    source = RulesFile(tmp_path / "nothing.toml", check_every=0)
    assert source.get().source == "embedded default"
    assert source.error is None


def test_a_file_that_starts_bad_leaves_the_embedded_default_in_force(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[mql]\nmin_grade = 'Z'\n")
    source = RulesFile(path)
    assert source.get().source == "embedded default"
    assert source.error is not None and source.error.line == 2


def test_the_readme_example_is_a_valid_rules_file() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```toml\n")[1:]]
    [example] = [block for block in blocks if "[[assignment.rule]]" in block]
    rules = parse_rules(example, "README.md")
    assert [rule.name for rule in rules.rules] == ["DACH enterprise", "robots", "everyone"]


def test_tables_other_parts_of_leadbot_read_are_left_to_them() -> None:
    rules = parse_rules(GOOD + "\n[retention]\nleads_days = 730\n", "rules.toml")
    assert rules.other_sections == ("retention",)
    assert rules.tables == {"retention": {"leads_days": 730}}
    assert "also in the file, read elsewhere: [retention]" in describe(rules)
    error = error_of(GOOD + "\n[scorring]\nx = 1\n")
    assert (error.line, error.reason.split(";")[0]) == (38, "scorring: unknown key")


def test_a_table_left_to_its_reader_must_still_be_a_table() -> None:
    error = error_of("retention = 730\n" + GOOD)
    assert (error.line, error.reason) == (1, "retention: must be a table")
    error = error_of("dedupe = 'strict'\n" + GOOD)
    assert (error.line, error.reason) == (1, "dedupe: [dedupe] must be a table")


def test_the_dedupe_table_is_read_by_the_same_loader() -> None:
    rules = parse_rules(
        GOOD + "\n[dedupe]\nauto_merge = 0.9\nreview = 0.6\n\n[dedupe.weights]\nphone = 2.5\n",
        "rules.toml",
    )
    assert (rules.match.auto_merge, rules.match.review) == (0.9, 0.6)
    assert rules.match.weights["phone"] == 2.5
    assert rules.match.weights["name"] == MatchRules().weights["name"]
    assert rules.other_sections == ()
    shown = describe(rules)
    assert "dedupe: merge at ≥ 0.9, review at ≥ 0.6; a merge keeps the newest values" in shown
    assert "  weights: name 4, company 2, email 3, domain 1, phone 2.5, title 0.5," in shown
    by_source = parse_rules("[dedupe]\nsurvivorship = 'source_priority'\n", "rules.toml")
    assert "a merge keeps values by source: manual, form, api, email, csv" in describe(by_source)
    # No [dedupe] table: the matcher's defaults, in the file's rules and in the embedded ones.
    assert parse_rules(GOOD, "rules.toml").match == MatchRules() == default_rules().match


@pytest.mark.parametrize(
    ("table", "line", "reason"),
    [
        ("[dedupe]\nmerge_threshold = 0.9\n", 39, "dedupe.merge_threshold: unknown key"),
        ("[dedupe]\nauto_merge = 0.9\nreview = 'low'\n", 40,
         "dedupe.review: must be a number, not 'low'"),
        ("[dedupe]\nauto_merge = 0.5\nreview = 0.8\n", 38,
         "dedupe: dedupe thresholds need 0 <= review <= auto_merge <= 1"),
        ("[dedupe]\nauto_merge = 1.5\n", 39, "dedupe.auto_merge: dedupe thresholds need"),
        ("[dedupe]\nsurvivorship = 'oldest'\n", 39, "dedupe.survivorship: survivorship must be"),
        ("[dedupe]\nmax_candidates = 0\n", 39, "dedupe.max_candidates: max_block_size and"),
        ("[dedupe]\nsource_priority = 'form'\n", 39,
         "dedupe.source_priority: must be a list of sources"),
        ("[dedupe.weights]\nname = 4\nfax = 1\n", 40, "dedupe.weights.fax: unknown dedupe weight"),
        ("[dedupe.weights]\nphone = -1\n", 39, "dedupe.weights.phone: dedupe weights must not"),
        ("[dedupe]\nweights = 3\n", 39, "dedupe.weights: [dedupe.weights] must be a table"),
    ],
)  # fmt: skip
def test_a_bad_dedupe_table_names_its_line_and_reason(table: str, line: int, reason: str) -> None:
    error = error_of(GOOD + "\n" + table)
    assert error.line == line, str(error)
    assert error.reason.startswith(reason), error.reason
    assert str(error).startswith(f"rules.toml:{line}: ")


def test_one_reloader_carries_the_dedupe_table_and_keeps_its_last_good_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.toml"
    write(path, GOOD + "\n[dedupe]\nauto_merge = 0.99\n", 1_000_000)
    source = RulesFile(path, check_every=0)
    assert source.get().match.auto_merge == 0.99

    write(path, GOOD + "\n[dedupe]\nauto_merge = 0.9\n", 1_000_010)
    assert source.get().match.auto_merge == 0.9  # no restart

    with caplog.at_level(logging.ERROR, logger="bot.rules.file"):
        write(path, GOOD + "\n[dedupe]\nauto_merge = 'high'\n", 1_000_020)
        rules = source.get()
    assert rules.match.auto_merge == 0.9 and rules.rules[0].name == "dach enterprise"
    assert source.error is not None and source.error.line == 39
    assert "rules.toml:39: dedupe.auto_merge: must be a number" in caplog.text
    assert "the last good rules stay in force" in caplog.text

    path.unlink()  # a file that goes away keeps the last good rules too
    assert source.get().match.auto_merge == 0.9


def test_a_quiet_reloader_reports_loads_only_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.toml"
    write(path, GOOD, 1_000_000)
    with caplog.at_level(logging.INFO, logger="bot.rules.file"):
        RulesFile(path, announce=False)
        assert "rules loaded from" not in caplog.text
        RulesFile(path)
        assert caplog.text.count("rules loaded from") == 1
    with caplog.at_level(logging.ERROR, logger="bot.rules.file"):
        write(path, "[mql]\nmin_grade = 'Z'\n", 1_000_010)
        assert RulesFile(path, announce=False).error is not None
        assert "the last good rules stay in force" in caplog.text  # errors are never quiet


def test_a_one_off_run_loads_the_file_or_the_default_and_refuses_a_bad_one(
    tmp_path: Path,
) -> None:
    assert load(tmp_path / "nothing.toml") is default_rules()
    assert load(None) is default_rules()
    path = tmp_path / "rules.toml"
    path.write_text("[dedupe]\nreview = 0.5\n")
    assert load(path).match.review == 0.5 and load(path).source == str(path)
    path.write_text("[dedupe]\nreview = 5\n")
    with pytest.raises(RulesError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}:2: dedupe.review: dedupe thresholds need")


def test_a_file_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as caught:
        load_file(tmp_path / "nothing.toml")
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{tmp_path / 'nothing.toml'}: cannot read: ")


def test_a_partial_section_keeps_the_other_defaults() -> None:
    """Issue 12, item 8: what a written section leaves out is the embedded default's."""
    default = default_rules()
    mql = parse_rules("[mql]\nenquiries_enter_queue = false\n", "t").mql
    assert (mql.min_score, mql.min_grade, mql.enquiries_enter_queue) == (
        default.mql.min_score, default.mql.min_grade, False)  # fmt: skip
    points = parse_rules("[scoring.points]\nenquiry = 40\n", "t").scoring.points
    assert points == {**default.scoring.points, "email.enquiry": 40}
    grading = parse_rules("[grading]\nthresholds = {A = 80}\n", "t").grading
    assert grading.thresholds == {"A": 80, "B": 40, "C": 20}
    assert grading.seniority == default.grading.seniority and grading.email
    bands = parse_rules("[grading]\ncompany_size = { 1 = 0, 100 = 25 }\n", "t").grading
    assert bands.company_size == ((1, 0), (100, 25))  # a written fit table is used as written
    assert error_of("[grading]\nthresholds = {A = 30}\n").reason.endswith(
        "A must need more points than B, and B than C"
    )
