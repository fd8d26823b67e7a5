"""The `leadbot` root: the commands it lists and in which order, how it starts, and how little
it imports before a command runs."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import typer.main

import bot.cli
from tests.cli.conftest import Leadbot

REPO = Path(__file__).resolve().parents[2]
# People's scripts and fingers know these; `leadbot --help` lists them in this order.
COMMANDS = {
    "serve": None,
    "lead": None,
    "db": ["upgrade", "current"],
    "leads": ["list", "show"],
    "inbox": ["list", "quarantined", "retry", "import", "process", "spool", "discard"],
    "intake": ["quarantined", "approve", "reject"],
    "reps": ["pause", "resume", "set", "add", "list", "remove"],
    "dedupe": ["train", "scan", "review"],
    "account": ["show"],
    "assign": ["run", "explain", "report", "queue"],
    "rules": ["check"],
    "events": ["add"],
    "campaign": [
        "create",
        "list",
        "preview",
        "send",
        "stats",
        "signature",
        "retry",
        "pause",
        "resume",
        "stop",
        "delete",
        "members",
    ],
    "form": ["create", "list", "show", "disable", "snippet", "submissions", "retry", "process"],
    "apikey": ["create", "list", "revoke"],
    "webhook": ["add", "list", "deliveries", "replay", "rotate-secret", "remove"],
    "import": ["file", "list", "show", "revert"],
    "export": ["leads"],
    "report": [
        "funnel",
        "sources",
        "reps",
        "speed",
        "aging",
        "campaigns",
        "link",
        "links",
        "revoke",
        "digest",
        "rebuild",
    ],
    "privacy": ["export", "erase", "log"],
    "retention": ["run"],
    "hygiene": ["report"],
}


def test_the_commands_and_their_order_stay(leadbot: Leadbot) -> None:
    root = typer.main.get_command(bot.cli.cli)
    assert list(root.commands) == list(COMMANDS)  # type: ignore[attr-defined]
    for noun, verbs in COMMANDS.items():
        command = root.commands[noun]  # type: ignore[attr-defined]
        assert list(getattr(command, "commands", {})) == (verbs or [])
    text = leadbot("--help").stdout
    positions = [text.index(f"│ {noun} ") for noun in COMMANDS]
    assert positions == sorted(positions)
    assert "leadbot: email and web leads in, worked from Slack or here." in text
    reps = leadbot("reps", "--help").stdout
    assert [reps.index(f"│ {verb} ") for verb in COMMANDS["reps"]] == sorted(
        reps.index(f"│ {verb} ") for verb in COMMANDS["reps"]
    )


def test_no_arguments_shows_the_help(leadbot: Leadbot) -> None:
    assert "Usage: leadbot" in leadbot(code=2).output
    assert "Usage: leadbot leads" in leadbot("leads", code=2).output


def test_python_m_bot_cli_and_the_leadbot_script_run_the_same_app() -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and "Usage: python -m bot.cli" in done.stdout, done.stderr
    [script] = entry_points(group="console_scripts", name="leadbot")
    assert script.value == "bot.cli:main" and script.load() is bot.cli.main


def imported_by(*args: str, cwd: Path = REPO) -> set[str]:
    """The modules `python -m bot.cli ARGS` imports, read from `-X importtime`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def within(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages))


# What a command that only reads the store must not load: the rest of the bot and its transports.
TRANSPORTS = ("bot.app", "bot.mail_in", "bot.integrations", "bot.web", "bot.nurture",
              "bot.dedupe", "rapidfuzz", "jinja2", "slack_bolt", "slack_sdk", "aiosmtpd",
              "aiohttp", "uvicorn", "starlette", "alembic")  # fmt: skip
# What the help does not need either: the store, the settings and the domain.
STORE_AND_DOMAIN = ("sqlalchemy", "sqlmodel", "pydantic", "pydantic_settings", "storage",
                    "bot.config", "bot.leads", "bot.rules", "bot.assignment",
                    "bot.scoring")  # fmt: skip


def test_help_imports_the_cli_alone() -> None:
    """The e2e tests run `leadbot` hundreds of times: the help and the command table load no
    store, no domain and no transport."""
    modules = imported_by("--help")
    assert "bot.cli.campaign" in modules  # every noun module is read, and only that
    assert within(modules, TRANSPORTS + STORE_AND_DOMAIN) == []


def test_a_listing_imports_the_store_not_the_bot(leadbot: Leadbot) -> None:
    modules = imported_by("leads", "list", "--json", cwd=leadbot.workdir)
    assert "storage.leads" in modules
    assert within(modules, TRANSPORTS) == []
