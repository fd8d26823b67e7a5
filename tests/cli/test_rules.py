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
