"""Every `leadbot` command finds the same store, key and rules as `serve`, from any directory, and
only `db upgrade` and `serve` ever create or migrate a store (issue 12, items 1, 5 and 12).

Through the real entry point (`python -m bot.cli`, forked warm), against a real `leadbot serve`
on free ports, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.services.bot import RunningBot, bot_env
from tests.services.cli import base_env, run_cli
from tests.services.postgres import create_database

RULES = """\
[mql]
min_score = 5
min_grade = "D"
"""


def send_enquiry(bot: RunningBot, sender: str) -> None:
    message = EmailMessage()
    message["From"] = f"Jane Roe <{sender}>"
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = "Pricing"
    message.set_content("Can you send pricing for 40 seats?\n\nJane Roe\nHead of Sales, Acme")
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


def test_commands_from_another_directory_sign_and_read_rules_as_serve_does(
    database_url: str, tmp_path: Path
) -> None:
    # The home: beside the SQLite file; for PostgreSQL, LEADBOT_HOME.
    if database_url.startswith("sqlite"):
        home, extra = Path(database_url.removeprefix("sqlite:///")).parent, {}
    else:
        home = tmp_path / "home"
        home.mkdir()
        extra = {"LEADBOT_HOME": str(home)}
    (home / "leadbot-rules.toml").write_text(RULES)
    serve_dir, elsewhere = tmp_path / "serve-here", tmp_path / "elsewhere"
    serve_dir.mkdir()
    elsewhere.mkdir()
    env, smtp_port, http_port = bot_env(serve_dir, database_url, **extra)
    del env["LEADBOT_SECRET_KEY"]  # the key is leadbot's own, generated once
    bot = RunningBot(serve_dir, env, smtp_port, http_port)
    bot.start()
    try:
        send_enquiry(bot, "jane@acme.io")
        bot.wait_until(lambda: bot.cli_json("leads", "list"))

        def cli(*args: str) -> str:
            result = run_cli(list(args), elsewhere, env)
            assert result.returncode == 0, result.stdout + result.stderr
            return result.stdout

        url = cli("lead", "link", "L-1").strip()
        # LEADBOT_PUBLIC_URL is unset: links follow LEADBOT_HTTP_HOST/PORT.
        assert url.startswith(f"{bot.http_url}/leads/1?t=")
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200, page.text
        assert "jane@acme.io" in page.text
        # The same key again, from the serve directory too: generated once, kept in the store.
        again = run_cli(["lead", "link", "L-1"], serve_dir, env).stdout.strip()
        assert httpx.get(again, timeout=10).status_code == 200
        assert httpx.get(url.replace("?t=", "?t=x"), timeout=10).status_code in (403, 404)
        # The page takes the id as leadbot prints it too (issue 12, item 15).
        assert httpx.get(url.replace("/leads/1?", "/leads/L-1?"), timeout=10).status_code == 200
        assert httpx.get(f"{bot.http_url}/leads/L-x?t=1", timeout=10).status_code == 404
        assert not list(tmp_path.rglob("leadbot.secret"))
        rules_file = home / "leadbot-rules.toml"
        assert f"rules from {rules_file}" in cli("rules", "check")
        assert f"rules from {rules_file}" in cli("lead", "why", "L-1")
    finally:
        bot.stop()


def test_a_named_rules_file_that_is_missing_is_an_error(sqlite_url: str, tmp_path: Path) -> None:
    env = {**base_env(), "LEADBOT_DATABASE_URL": sqlite_url, "LEADBOT_RULES": "nosuch.toml"}
    result = run_cli(["rules", "check"], tmp_path, env)
    assert result.returncode == 1
    assert "nosuch.toml does not exist (LEADBOT_RULES names it)" in result.stderr


READ_COMMANDS = (["leads", "list", "--json"], ["inbox", "list"], ["campaign", "list"])


def test_a_mistyped_sqlite_url_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    env = {**base_env(), "LEADBOT_DATABASE_URL": f"sqlite:///{missing}"}
    for args in (*READ_COMMANDS, ["db", "current"]):
        result = run_cli(args, tmp_path, env)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert f"no store at {missing}" in result.stderr, args
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "nonexistent").exists()
    # An empty file is not a store either, and it stays empty.
    empty = tmp_path / "empty.db"
    empty.touch()
    env["LEADBOT_DATABASE_URL"] = f"sqlite:///{empty}"
    result = run_cli(["leads", "list"], tmp_path, env)
    assert result.returncode == 1 and "is not a migrated leadbot store" in result.stderr
    assert empty.stat().st_size == 0
    # `db upgrade` creates it; then the read commands work.
    assert run_cli(["db", "upgrade"], tmp_path, env).returncode == 0
    for args in READ_COMMANDS:
        assert run_cli(args, tmp_path, env).returncode == 0, args


def test_a_store_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    store = tmp_path / "a-file" / "sub" / "x.db"  # its folder would have to be made in a file
    env = {**base_env(), "LEADBOT_DATABASE_URL": f"sqlite:///{store}"}
    for args in (["db", "upgrade"], ["serve"]):
        result = run_cli(args, tmp_path, env)
        assert (result.returncode, result.stdout) == (1, ""), args
        assert result.stderr == (
            f"error: cannot write the store's folder {store.parent}: Not a directory "
            "(check LEADBOT_DATABASE_URL)\n"
        )


@pytest.mark.postgres
def test_an_unknown_or_unmigrated_postgres_store_is_refused(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    base = postgres_admin_url.rsplit("/", 1)[0]
    env = {**base_env(), "LEADBOT_DATABASE_URL": f"{base}/leadbot_no_such_database"}
    result = run_cli(["leads", "list"], tmp_path, env)
    assert result.returncode == 1 and "cannot open the store at" in result.stderr
    assert "Traceback" not in result.stderr
    env["LEADBOT_DATABASE_URL"] = create_database(postgres_admin_url, "leadbot_i12_unmigrated")
    result = run_cli(["reps", "list"], tmp_path, env)
    assert result.returncode == 1 and "is not a migrated leadbot store" in result.stderr
    assert run_cli(["db", "upgrade"], tmp_path, env).returncode == 0
    assert run_cli(["leads", "list", "--json"], tmp_path, env).stdout.strip() == "[]"
