"""`leadbot rules check`: what a rules file says, or where it is wrong."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Leadbot


def test_without_a_file_the_embedded_default_is_described(leadbot: Leadbot) -> None:
    text = leadbot("rules", "check").stdout
    # The default file is looked for beside the store (the home), and named in full.
    missing = leadbot.workdir / "leadbot-rules.toml"
    assert text.startswith(f"{missing} does not exist; the embedded default applies\n")


def test_a_good_file_is_described_and_a_bad_one_fails_with_its_line(
    leadbot: Leadbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = leadbot("rules", "check").stdout.splitlines()
    assert default[1] == "rules from embedded default"
    good = leadbot.workdir / "good.toml"
    good.write_text("")
    described = leadbot("rules", "check", str(good)).stdout.splitlines()
    assert described == [f"rules from {good}", *default[2:]]
    bad = leadbot.workdir / "bad.toml"
    bad.write_text("[scoring]\n\n[scoring.points]\nteleport = 5\n")
    failed = leadbot("rules", "check", str(bad), code=1)
    assert failed.stderr.startswith(f"error: {bad}:4: scoring.points.teleport: unknown key")
    monkeypatch.setenv("LEADBOT_RULES", str(bad))
    assert leadbot("rules", "check", code=1).stderr == failed.stderr


def test_a_country_that_is_not_an_iso_code_is_refused_where_it_is_written(
    leadbot: Leadbot,
) -> None:
    for text, where in (
        ('[territories]\ndach = ["DE", "Austria"]\n', "territories.dach"),
        ("[grading.country]\nUK = 10\n", "grading.country"),
        ('[[assignment.rule]]\nname = "x"\nwhen = { country = ["DEU"] }\nrep = "a@b.io"\n',
         "assignment.rule[1].when.country"),
    ):  # fmt: skip
        path = leadbot.workdir / "countries.toml"
        path.write_text(text)
        failed = leadbot("rules", "check", str(path), code=1).stderr
        assert where in failed and "is not an ISO 3166 country code" in failed, failed
    path.write_text('[territories]\ndach = ["de", "AT", "CH"]\n[grading.country]\ngb = 10\n')
    assert "dach = DE, AT, CH" in leadbot("rules", "check", str(path)).stdout


def test_rules_naming_reps_the_store_does_not_have_are_reported(leadbot: Leadbot) -> None:
    leadbot("reps", "add", "Ann Lee", "ann@yourco.com")
    path = leadbot.workdir / "reps.toml"
    path.write_text(
        '[assignment]\nmanager = "boss@yourco.com"\n'
        '[[assignment.rule]]\nname = "ann"\nrep = "Ann@yourco.com"\n'
        '[[assignment.rule]]\nname = "pool"\npool = ["ann@yourco.com", "bob@yourco.com"]\n'
    )
    warned = leadbot("rules", "check", str(path))  # a warning: reps may be added after
    assert "rules from" in warned.stdout
    assert warned.stderr == (
        f"warning: {path}: no rep bob@yourco.com, boss@yourco.com in the store: the rules that "
        "name them offer no lead until they are added (`leadbot reps add`)\n"
    )
    leadbot("reps", "add", "Bob Roe", "bob@yourco.com")
    leadbot("reps", "add", "The Boss", "boss@yourco.com")
    assert leadbot("rules", "check", str(path)).stderr == ""


def test_serve_refuses_an_unknown_inbound_step_before_it_starts(
    leadbot: Leadbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADBOT_INBOUND_STEPS", '["classify", "apply", "dedup"]')
    failed = leadbot("serve", code=2)
    assert failed.stderr == (
        "error: LEADBOT_INBOUND_STEPS: unknown inbound steps ['dedup']; known: classify, "
        "match_thread, apply, dedupe, notify\n"
    )
