"""`leadbot serve` as a real process on free ports, and the `leadbot` CLI as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.services.cli import ForkedProcess, run_cli
from tests.services.ports import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningBot:
    workdir: Path
    env: dict[str, str]
    smtp_port: int
    http_port: int
    process: subprocess.Popen[bytes] | ForkedProcess | None = None
    log_path: Path = field(default_factory=Path)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_cli(list(args), self.workdir, self.env, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(
                f"leadbot {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
            )
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def wait_until(self, predicate: Any, timeout: float = 20.0) -> Any:
        """Poll `predicate()` until it returns something truthy (the bot works asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {timeout}s; log:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        self.log_path = self.workdir / "serve.log"
        with self.log_path.open("ab") as log:
            # serve is a process of its own, as an operator starts it (the tests' CLI calls are
            # forked from a warm one): killed, its worker processes must leave with it.
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"],
                                            cwd=self.workdir, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_for_port(self.http_port, timeout=30)
            wait_for_port(self.smtp_port, timeout=30)
            httpx.get(f"{self.http_url}/healthz", timeout=5).raise_for_status()
        except Exception:
            self.stop()
            raise AssertionError(f"leadbot serve did not start:\n{self.log()}") from None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code


def bot_env(workdir: Path, database_url: str, **extra: str) -> tuple[dict[str, str], int, int]:
    smtp_port, http_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEADBOT_")}
    env.update(
        {
            "LEADBOT_DATABASE_URL": database_url,
            "LEADBOT_SMTP_PORT": str(smtp_port),
            "LEADBOT_HTTP_PORT": str(http_port),
            "LEADBOT_INBOUND_ADDRESSES": "leads@acme-leads.test,@inbound.test",
            "LEADBOT_REPLY_ADDRESS": "leads@acme-leads.test",
            "LEADBOT_WORKER_IDLE_SECONDS": "0.1",
            "LEADBOT_SECRET_KEY": "test-secret",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env, smtp_port, http_port


@contextmanager
def running_bot(workdir: Path, database_url: str, **extra: str) -> Iterator[RunningBot]:
    env, smtp_port, http_port = bot_env(workdir, database_url, **extra)
    bot = RunningBot(workdir, env, smtp_port, http_port)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


def manual_routing(folder: Path) -> Path:
    """A rules file where enquiries wait for the MQL thresholds (the embedded default offers
    them to reps at once): for tests that assign leads by hand and count what reps are sent."""
    path = folder / "manual-routing.toml"
    path.write_text("[mql]\nenquiries_enter_queue = false\n")
    return path


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (serve's worker processes), read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def running(pid: int) -> bool:
    """Whether `pid` still runs: an exited process that nobody has reaped yet (a zombie, as the
    orphaned children of a killed serve are until init reaps them) does not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    """Wait until these processes have exited (a killed serve's workers finish and leave)."""
    deadline = time.monotonic() + timeout
    while any(running(pid) for pid in pids):
        if time.monotonic() > deadline:
            left = [pid for pid in pids if running(pid)]
            raise AssertionError(f"processes {left} still running after {timeout}s")
        time.sleep(0.05)
