"""Through the real SMTP listener of `leadbot serve`: junk and a flood are held by the `[intake]`
rules of LEADBOT_RULES, kept, listed with the inbox's unreadable mail, approved and rejected
from the CLI; an edit of the table takes effect without a restart."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.engine import Store
from storage.models import InboundMessage, Lead
from tests.services.bot import RunningBot, running_bot

RULES = """
[intake]
role_addresses = true       # a desk is not a person: hold info@, sales@ …
flood_limit = 2             # a third enquiry from one company within the window is held
flood_window_minutes = 60
flood_by = "domain"         # every sender at one company counts towards its flood

[mql]
enquiries_enter_queue = false   # no reps here: keep the timelines to what intake wrote
"""


@pytest.fixture
def bot(database_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    (tmp_path / "rules.toml").write_text(RULES)
    with running_bot(tmp_path, database_url, LEADBOT_RULES="rules.toml") as running:
        yield running


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """The bot's store, read directly to wait for the worker (a CLI call costs a second)."""
    store = Store(database_url)
    yield store
    store.dispose()


def send(bot: RunningBot, sender: str, subject: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="sender.test")
    message.set_content(f"{subject}: can you send pricing?\n\nThanks")
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.send_message(message)


def processed(store: Store, count: int) -> list[tuple[str, str | None]]:
    """(state, classification) of each inbound message once `count` are processed, else []."""
    with store.reading() as session:
        rows = session.execute(
            select(InboundMessage.state, InboundMessage.classification).order_by(InboundMessage.id)
        ).all()
    done = [(state, classification) for state, classification in rows]
    return done if len(done) == count and all(state != "queued" for state, _ in done) else []


def lead_emails(store: Store) -> list[str]:
    with store.reading() as session:
        return sorted(session.execute(select(Lead.email)).scalars().all())


def test_junk_and_a_flood_are_held_kept_and_decided_from_the_cli(
    bot: RunningBot, store: Store
) -> None:
    send(bot, "Jane Doe <jane@acme-robotics.io>", "Pricing")
    send(bot, "Spam Bot <bot@mailinator.com>", "Cheap leads")
    send(bot, "Northwind Info <info@northwind.test>", "Catalogue")
    send(bot, "Bob Roe <bob@acme-robotics.io>", "Demo")
    send(bot, "Carl Poe <carl@acme-robotics.io>", "Trial")  # the third from acme-robotics.io
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.sendmail("", ["leads@acme-leads.test"], b"Subject: who am I\r\n\r\nhello\r\n")
    assert bot.wait_until(lambda: processed(store, 6)) == [
        ("done", "enquiry"), ("done", "held"), ("done", "held"), ("done", "enquiry"),
        ("done", "held"), ("quarantined", None)]  # fmt: skip
    assert lead_emails(store) == ["bob@acme-robotics.io", "jane@acme-robotics.io"]

    listed = bot.cli_json("intake", "quarantined")
    assert [(row["kind"], row["from"]) for row in listed] == [
        ("hold", "bot@mailinator.com"),
        ("hold", "info@northwind.test"),
        ("hold", "carl@acme-robotics.io"),
        ("message", "<>"),  # the null envelope sender
    ]
    # Holds are numbered in the order they came (mails taken in one batch may leave gaps
    # other than one a time would); the quarantined message is the inbox's sixth.
    spam, _, carl = (row["id"] for row in listed[:3])
    numbers = [int(row["id"].removeprefix("H-")) for row in listed[:3]]
    assert numbers == sorted(numbers) and listed[3]["id"] == "M-6"
    assert [row["checks"] for row in listed[:3]] == [["disposable"], ["role"], ["flood"]]
    flood = "flood: 3 captures from acme-robotics.io within 60 minutes, over the limit of 2"
    assert listed[2]["reasons"] == [flood]
    assert listed[3]["reasons"] == ["Unprocessable: no sender address to make a lead of"]

    assert bot.cli("intake", "approve", carl).stdout == (
        f"{carl} approved: L-3 carl@acme-robotics.io (a new lead)\n")  # fmt: skip
    timeline = bot.cli_json("leads", "show", "L-3")["timeline"]
    kinds = [e["kind"] for e in timeline]
    # queued by the default rules, whenever the assigner got to it
    assert [k for k in kinds if k != "queued"] == ["created", "email.enquiry", "intake.approved"]
    assert timeline[-1]["actor"].startswith("cli:")
    assert "held: flood: 3 captures from acme-robotics.io" in timeline[-1]["summary"]
    bot.cli("intake", "reject", spam, "--reason", "disposable, no reply possible")
    bot.cli("intake", "reject", "M-6", "--reason", "no sender")
    again = bot.cli("intake", "approve", spam, check=False)
    assert again.returncode == 2 and f"{spam} was rejected already" in again.stderr
    assert processed(store, 6)[5] == ("rejected", None)  # kept, closed

    # The table is re-read while serve runs (its size changes too): role addresses pass again.
    (bot.workdir / "rules.toml").write_text(RULES.replace("role_addresses = true", "# none"))
    send(bot, "Globex Sales <sales@globex.test>", "Partnership")
    assert bot.wait_until(lambda: processed(store, 7))[6] == ("done", "enquiry")
    assert "sales@globex.test" in lead_emails(store)
    assert bot.wait_until(lambda: "lead.new L-3" in bot.log())  # the approved lead's card
