"""The tests' CLI fork server answers as a fresh `python -m bot.cli` does: what the end-to-end
tests read from a forked command (status, stdout, stderr) is what a user's shell would show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.services.cli import base_env, run_cli

COMMANDS = (
    ["leads", "list", "--json"],  # a success, on stdout
    ["leads", "show", "L-9"],  # a failure through rich on stderr, status 1
    ["nosuch"],  # typer's usage error, which names the program, status 2
)


def test_a_forked_command_is_what_a_fresh_interpreter_prints(tmp_path: Path) -> None:
    env = {**base_env(), "LEADBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'leadbot.db'}"}
    run_cli(["db", "upgrade"], tmp_path, env).check_returncode()
    for args in COMMANDS:
        forked = run_cli(args, tmp_path, env)
        fresh = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert forked.args == fresh.args
        assert (forked.returncode, forked.stdout, forked.stderr) == (
            fresh.returncode, fresh.stdout, fresh.stderr,
        ), args  # fmt: skip
