"""The small things a new user trips over (issue 12, items 7, 11, 12 and 14): bad values refused
when given, limits stated, JSON errors for scripts, full-width tables when piped, score and grade
in `leads show`, a retry that fails says so, loopback links warned about."""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import load_settings
from tests.cli.conftest import Leadbot
from tests.cli.helpers import add_lead
from tests.services.cli import base_env, run_cli


def test_bad_values_are_refused_when_given(leadbot: Leadbot) -> None:
    bogus = leadbot("leads", "list", "--status", "bogus", code=2).stderr
    assert "status 'bogus' is not one of: new, working" in bogus
    assert "state 'bogus' is not one of" in leadbot("inbox", "list", "--state", "bogus",
                                                     code=2).stderr  # fmt: skip
    assert "is not an email address" in leadbot("reps", "add", "Bad", "notanemail", code=2).stderr
    made = leadbot("campaign", "create", "x", "--step", "welcome:0", "--status", "bogus", code=2)
    assert "--status 'bogus' is not one of" in made.stderr
    graded = leadbot("campaign", "create", "x", "--step", "welcome:0", "--grade", "Z", code=2)
    assert "--grade 'Z' is not one of: A, B, C, D" in graded.stderr
    assert "m, h, d or w" in leadbot("campaign", "create", "x", "--step", "welcome:soon",
                                     code=2).stderr  # fmt: skip
    leadbot("campaign", "create", "x", "--step", "welcome:0")
    add_lead(leadbot.store, "jane@acme.io")
    pdf = leadbot("campaign", "preview", "x", "--lead", "L-1", "--out", "p.pdf", code=2)
    assert "--out must end in .eml, .html or .txt" in pdf.stderr
    assert leadbot.json("campaign", "list")[0]["name"] == "x"  # nothing else was made


def test_limits_are_stated_and_show_has_score_and_grade(leadbot: Leadbot) -> None:
    for n in range(3):
        add_lead(leadbot.store, f"lead{n}@acme.io", score=12.5, grade="C")
    listed = leadbot("leads", "list", "--limit", "2")
    assert "showing 1-2 of 3; --limit N and --offset N" in listed.stderr
    assert "showing" not in leadbot("leads", "list").stderr
    shown = leadbot("leads", "show", "L-1").stdout
    assert "score           12.5" in shown and "grade           C" in shown


def test_json_errors_are_json_on_stderr_and_tables_are_whole_when_piped(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {**base_env(), "LEADBOT_DATABASE_URL": sqlite_url}
    env.pop("COLUMNS", None)
    result = run_cli(["leads", "show", "L-99", "--json"], tmp_path, env)
    assert result.returncode == 1 and result.stdout == ""
    assert json.loads(result.stderr) == {"error": "no lead L-99", "code": 1}
    from storage.engine import Store

    store = Store(sqlite_url)
    long_company = "Globex Corporation International Holdings and Subsidiaries"
    add_lead(store, "jane.with.a.long.address@globex-international.example", company=long_company)
    store.dispose()
    table = run_cli(["leads", "list"], tmp_path, env).stdout  # stdout is a file, not a terminal
    assert (
        long_company in table and "jane.with.a.long.address@globex-international.example" in table
    )


def test_public_links_follow_the_http_address_and_loopback_is_warned(
    leadbot: Leadbot, monkeypatch
) -> None:
    monkeypatch.setenv("LEADBOT_HTTP_PORT", "8123")
    assert load_settings().public_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("LEADBOT_PUBLIC_URL", "https://leads.yourco.com")
    assert not load_settings().public_url_is_loopback()
    monkeypatch.delenv("LEADBOT_PUBLIC_URL")
    monkeypatch.setenv("LEADBOT_OUTBOUND_SMTP_URL", "smtp://127.0.0.1:9")
    leadbot("campaign", "create", "x", "--step", "welcome:0")
    sent = leadbot("campaign", "send", "x", "--no-wait")
    assert "warning: public links point at http://127.0.0.1:8123" in sent.stderr


def test_an_inbox_retry_of_an_unknown_id_exits_non_zero(leadbot: Leadbot) -> None:
    assert "42: not a quarantined message" in leadbot("inbox", "retry", "42", code=1).stderr
    missing = leadbot("inbox", "import", "nosuch.eml", code=1).stderr
    assert "no such file or folder: nosuch.eml (nothing imported)" in missing


def test_start_up_and_settings_errors_are_one_line(sqlite_url: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**base_env(), "LEADBOT_DATABASE_URL": sqlite_url, "LEADBOT_SMTP_PORT": str(port)}
        result = run_cli(["serve"], tmp_path, env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port} for SMTP: address already in use "
        "(set LEADBOT_SMTP_PORT)"
    )
    config = tmp_path / "leadbot.toml"
    env = {**base_env(), "LEADBOT_DATABASE_URL": sqlite_url, "LEADBOT_CONFIG": str(config)}
    config.write_text('databse_url = "sqlite:///x.db"\n')
    result = run_cli(["leads", "list"], tmp_path, env)
    assert result.returncode == 2 and f"{config}: unknown setting 'databse_url'" in result.stderr
    config.write_text("database_url = \n")
    result = run_cli(["leads", "list"], tmp_path, env)
    assert result.returncode == 2 and "not valid TOML: Invalid value (at line 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_reps_set_changes_name_role_and_email(leadbot: Leadbot) -> None:
    leadbot("reps", "add", "Ann Lee", "ann@yourco.com")
    leadbot("reps", "add", "Bo Ek", "bo@yourco.com")
    changed = leadbot.json("reps", "set", "R-1", "--name", "Ann Berg", "--role", "manager",
                           "--email", "ann.berg@yourco.com")  # fmt: skip
    assert (changed["name"], changed["role"], changed["email"]) == (
        "Ann Berg", "manager", "ann.berg@yourco.com")  # fmt: skip
    taken = leadbot("reps", "set", "R-1", "--email", "bo@yourco.com", code=1)
    assert "a rep with email bo@yourco.com exists already" in taken.stderr
    assert "role must be" in leadbot("reps", "set", "R-1", "--role", "boss", code=2).stderr
