"""CLI start-up benchmark: wall time of `leadbot …` run as a subprocess, as tests and scripts do.

The e2e tests call the CLI hundreds of times, so every command's start-up (imports, settings, the
store) is paid hundreds of times. For each command it runs N fresh processes against one fresh,
migrated SQLite store and prints the median and p90 wall time, and the median CPU time (user +
system) of the process, which other work on a busy machine disturbs less than the wall time.

    .venv/bin/python bench/cli_start.py                  # 20 runs of each command
    .venv/bin/python bench/cli_start.py --runs 50 --command "reps list --json"
    .venv/bin/python bench/cli_start.py --script .venv/bin/leadbot   # the installed entry point

Run `python -m compileall -q bot storage` first (`make install` does) when the environment sets
PYTHONDONTWRITEBYTECODE=1: without bytecode every run compiles the modules it imports.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("--help", "leads list --json", "inbox list --json")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_runs(
    argv: list[str], env: dict[str, str], cwd: Path, runs: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of `runs` processes, after one untimed run that warms the
    page cache."""
    walls, cpus = [], []
    for attempt in range(runs + 1):
        cpu, start = children_cpu(), time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        if attempt:
            walls.append(time.perf_counter() - start)
            cpus.append(children_cpu() - cpu)
    return walls, cpus


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="Processes per command.")
    parser.add_argument(
        "--command", action="append", help=f"A command line to time (default: {COMMANDS})."
    )
    parser.add_argument(
        "--script",
        help="Run this executable instead of `python -m bot.cli` (e.g. the entry point).",
    )
    args = parser.parse_args()
    prefix = [os.path.abspath(args.script)] if args.script else [sys.executable, "-m", "bot.cli"]
    with tempfile.TemporaryDirectory(prefix="leadbot-cli-start-") as folder:
        workdir = Path(folder)
        url = f"sqlite:///{workdir / 'leadbot.db'}"
        upgrade(url)
        env = {key: value for key, value in os.environ.items() if not key.startswith("LEADBOT_")}
        env.update({"LEADBOT_DATABASE_URL": url, "PYTHONPATH": str(REPO)})
        print(f"{' '.join(prefix)} …, {args.runs} runs each, fresh SQLite store")
        print(f"{'command':<24} {'median':>8} {'p90':>8} {'cpu':>8}")
        for command in args.command or COMMANDS:
            walls, cpus = timed_runs([*prefix, *shlex.split(command)], env, workdir, args.runs)
            median, slow, cpu = (1000 * x for x in (statistics.median(walls), p90(walls),
                                                    statistics.median(cpus)))  # fmt: skip
            print(f"{command:<24} {median:>6.0f}ms {slow:>6.0f}ms {cpu:>6.0f}ms")


if __name__ == "__main__":
    main()
