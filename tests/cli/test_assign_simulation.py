"""`assign run --now` is a simulation (issue 12, item 10): it says so and writes nothing, on both
stores, through the real `leadbot` entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_inbox import saved_mail
from tests.services.cli import base_env, run_cli


def test_assign_run_with_a_pretend_clock_writes_nothing(database_url: str, tmp_path: Path) -> None:
    env = {**base_env(), "LEADBOT_DATABASE_URL": database_url, "COLUMNS": "200"}
    assert run_cli(["reps", "add", "Ann Lee", "ann@yourco.com"], tmp_path, env).returncode == 0
    mail = saved_mail(tmp_path, "one")  # an enquiry: the default rules queue it
    assert run_cli(["inbox", "import", str(mail)], tmp_path, env).returncode == 0
    before = run_cli(["leads", "show", "L-1", "--json"], tmp_path, env).stdout
    queue = run_cli(["assign", "queue", "--json"], tmp_path, env).stdout

    simulated = run_cli(["assign", "run", "--seed", "1", "--now", "2030-01-01T09:00:00Z", "--json"],
                        tmp_path, env)  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    assert json.loads(simulated.stdout)["offered"] == 1
    assert "simulation as of 2030-01-01T09:00:00+00:00: nothing was written" in simulated.stderr
    assert run_cli(["leads", "show", "L-1", "--json"], tmp_path, env).stdout == before
    assert run_cli(["assign", "queue", "--json"], tmp_path, env).stdout == queue

    real = run_cli(["assign", "run", "--seed", "1", "--json"], tmp_path, env)
    assert json.loads(real.stdout)["offered"] == 1 and "simulation" not in real.stderr
    assert json.loads(run_cli(["leads", "show", "L-1", "--json"], tmp_path, env).stdout)["owner"]
