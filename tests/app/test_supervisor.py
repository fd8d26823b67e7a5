"""The process supervisor with real child processes: restart, wake, send, post and stop."""

from __future__ import annotations

import ast
import os
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from bot.app.supervisor import Child, Supervisor
from tests.app import children

REPO = Path(__file__).resolve().parents[2]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    """Until `predicate()` holds (a spawned child takes a moment on a busy machine)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not met in {timeout}s"
        time.sleep(0.02)


def said(path: Path, pid: int, text: str) -> bool:
    return f"{pid} {text}" in lines(path)


class Log:
    """Stands in for a child module's messages: what the supervisor reported, in order."""

    def __init__(self) -> None:
        self.exited: list[tuple[int | None, int | None]] = []
        self.overdue: list[float] = []

    def on_exit(self, process: BaseProcess) -> None:
        self.exited.append((process.pid, process.exitcode))

    def on_overdue(self, timeout: float) -> None:
        self.overdue.append(timeout)


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "children.log"


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    """Every supervisor a test makes is stopped at its end, whatever the test did."""
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.stop(5)


def supervisor_of(
    made: list[Supervisor],
    main: Callable[..., None],
    out: Path,
    log: Log,
    count: int = 1,
) -> Supervisor:
    child = Child("leadbot-test-child", main, (str(out),), log.on_exit, log.on_overdue)
    supervisor = Supervisor(child, count)
    made.append(supervisor)
    return supervisor


def test_a_child_that_dies_is_started_again(
    supervisors: list[Supervisor], out: Path, log: Log
) -> None:
    supervisor = supervisor_of(supervisors, children.waits_for_work, out, log, count=2)
    supervisor.start()
    first, second = supervisor.pids
    wait_for(lambda: said(out, first, "start") and said(out, second, "start"))

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: (supervisor.watch(), supervisor.pids[0] != first)[1])

    replacement, still = supervisor.pids
    assert still == second, "the living child is left alone"
    assert log.exited == [(first, -signal.SIGKILL)]
    wait_for(lambda: said(out, replacement, "start"))
    supervisor.wake()
    wait_for(lambda: said(out, replacement, "wake") and said(out, second, "wake"))


def test_wake_reaches_every_child_and_never_blocks(
    supervisors: list[Supervisor], out: Path, log: Log
) -> None:
    supervisor = supervisor_of(supervisors, children.waits_for_work, out, log, count=3)
    supervisor.start()
    pids = supervisor.pids
    wait_for(lambda: all(said(out, pid, "start") for pid in pids))

    supervisor.wake()
    wait_for(lambda: all(said(out, pid, "wake") for pid in pids))

    # A child that stops reading fills its pipe: wake-ups are dropped, not waited for.
    stuck = supervisor_of(supervisors, children.ignores_its_pipe, out, log)
    stuck.start()
    started = time.monotonic()
    for _ in range(100_000):
        stuck.wake()
    assert time.monotonic() - started < 10


def test_stop_closes_the_pipes_and_every_child_leaves_within_the_timeout(
    supervisors: list[Supervisor], out: Path, log: Log
) -> None:
    supervisor = supervisor_of(supervisors, children.waits_for_work, out, log, count=3)
    supervisor.start()
    pids = supervisor.pids
    wait_for(lambda: all(said(out, pid, "start") for pid in pids))

    started = time.monotonic()
    supervisor.stop(timeout=10)
    assert time.monotonic() - started < 10
    assert all(said(out, pid, "eof") for pid in pids), "each child read the end of file"
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert log.overdue == []

    supervisor.watch()  # stopped: nothing is started again
    assert not any(Path(f"/proc/{pid}").exists() for pid in supervisor.pids)


def test_stop_ends_a_child_that_does_not_finish_in_time(
    supervisors: list[Supervisor], out: Path, log: Log
) -> None:
    supervisor = supervisor_of(supervisors, children.ignores_its_pipe, out, log, count=2)
    supervisor.start()
    pids = supervisor.pids
    wait_for(lambda: all(said(out, pid, "start") for pid in pids))

    started = time.monotonic()
    supervisor.stop(timeout=1)
    assert time.monotonic() - started < 1 + 5, "the timeout, then SIGTERM"
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert log.overdue == [1, 1]
    assert log.exited == [], "a child ended by stop is not reported as dead"


def test_send_starts_the_child_and_starts_it_again_when_it_died(
    supervisors: list[Supervisor], out: Path, log: Log
) -> None:
    supervisor = supervisor_of(supervisors, children.receives, out, log)
    assert supervisor.pids == [], "nothing runs before the first message"
    supervisor.send(["batch", 1])
    [first] = supervisor.pids
    wait_for(lambda: said(out, first, "got ['batch', 1]"))

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{first}/status").exists()
             or "zombie" in Path(f"/proc/{first}/status").read_text())  # fmt: skip
    supervisor.send(["batch", 2])
    [second] = supervisor.pids
    assert second != first
    assert log.exited == [(first, -signal.SIGKILL)]
    wait_for(lambda: said(out, second, "got ['batch', 2]"))


def test_posted_messages_arrive_in_order_and_stop_hands_them_all_over(
    supervisors: list[Supervisor], out: Path, log: Log
) -> None:
    supervisor = supervisor_of(supervisors, children.receives, out, log)
    supervisor.start()
    [pid] = supervisor.pids
    started = time.monotonic()
    for n in range(2000):
        supervisor.post(("job", n, "x" * 200))  # more than a pipe holds: the child is slower
    assert time.monotonic() - started < 5, "post never waits for the child"

    supervisor.stop(timeout=60)
    got = [line for line in lines(out) if line.startswith(f"{pid} got")]
    assert got == [f"{pid} got {('job', n, 'x' * 200)!r}" for n in range(2000)]
    assert lines(out)[-1] == f"{pid} eof"


def test_the_children_serve_runs_do_not_import_the_app() -> None:
    """The supervisor runs them, the app builds them: an import of bot.app from a child's
    module, even inside a function, would make a cycle."""
    for module in (
        "bot/mail_in/worker.py",
        "bot/nurture/tracking_writer.py",
        "bot/integrations/slack/worker.py",
        "bot/integrations/slack/app.py",
    ):
        imported = set()
        for node in ast.walk(ast.parse((REPO / module).read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
        assert not {name for name in imported if name.split(".")[:2] == ["bot", "app"]}, module


def test_alive_says_whether_every_child_runs(
    supervisors: list[Supervisor], out: Path, log: Log
) -> None:
    """What /readyz reports for the inbox workers: not ready from a child's death until the
    watch has started another."""
    supervisor = supervisor_of(supervisors, children.waits_for_work, out, log, count=2)
    assert not supervisor.alive
    supervisor.start()
    first, _ = supervisor.pids
    assert supervisor.alive
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not supervisor.alive)
    supervisor.watch()
    assert supervisor.alive
