"""The SMTP listener's own process (bot/mail_in/listener.py) under a real `leadbot serve` on a
SQLite file: it, not serve, holds the SMTP port; killed, it is started again and the mail it
answered 250 to before and after becomes leads, each once."""

from __future__ import annotations

import os
import signal
import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.services.bot import RunningBot, children_of, running_bot


@pytest.fixture
def bot(sqlite_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path, sqlite_url, LEADBOT_SLACK_WORKERS="0") as running:
        yield running


def listening_pid(port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the listening socket on `port` (from /proc/net/tcp and the fds)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        if inodes & set(links):
            return pid
    return None


def send(bot: RunningBot, n: int) -> None:
    message = EmailMessage()
    message["From"] = f"buyer{n}@company-{n}.test"
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = f"Enquiry {n}"
    message["Message-ID"] = f"<e{n}@company-{n}.test>"
    message.set_content(f"Pricing for {n + 2} seats, please.")
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=30) as client:
        assert client.send_message(message) == {}


def test_the_listener_is_a_process_of_its_own_and_comes_back_when_killed(bot: RunningBot) -> None:
    assert bot.process is not None
    serve = bot.process.pid
    listener = listening_pid(bot.smtp_port, children_of(serve))
    assert listener is not None and listening_pid(bot.smtp_port, [serve]) is None
    send(bot, 1)
    os.kill(listener, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while listening_pid(bot.smtp_port, children_of(serve)) in (None, listener):
        assert time.monotonic() < deadline, "no new listener"
        time.sleep(0.1)
    send(bot, 2)
    bot.wait_until(lambda: [m["state"] for m in bot.cli_json("inbox", "list")] == ["done"] * 2,
                   timeout=60)  # fmt: skip
    emails = sorted(lead["email"] for lead in bot.cli_json("leads", "list"))
    assert emails == ["buyer1@company-1.test", "buyer2@company-2.test"]
    assert bot.cli_json("inbox", "spool")["counts"] == {}
