"""A prospect's email reaches the real SMTP listener and becomes a lead a rep can see."""

from __future__ import annotations

import re
import smtplib
import subprocess
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from tests.services.bot import RunningBot, children_of, running_bot, wait_gone


def signature(name: str = "Jane Doe", company: str = "Acme Robotics GmbH",
              phone: str = "+49 30 1234567") -> str:  # fmt: skip
    return f"""Hi,

we are looking for a lead routing tool for our 40-person sales team. Can you send pricing?

Best regards,
{name}
Head of Operations
{company}
Tel: {phone}
"""


SIGNATURE = signature()


def enquiry(sender: str = "Jane Doe <jane.doe@acme-robotics.io>", body: str = SIGNATURE,
            subject: str = "Pricing for 40 seats", to: str = "leads@acme-leads.test",
            **headers: str) -> EmailMessage:  # fmt: skip
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="acme-robotics.io")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


@pytest.fixture(scope="module")
def bot(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """One serve for the module's tests (on each store): each mails as a sender of its own (its
    own name, company and phone, so that no test's lead is a duplicate of another's) and reads
    only that sender's leads and inbox rows. The test that kills serve has its own."""
    with running_bot(tmp_path_factory.mktemp("serve"), module_database_url) as running:
        yield running


def send(bot: RunningBot, message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.send_message(message, to_addrs=to)


def leads(bot: RunningBot, *emails: str) -> list[dict]:
    """The leads with these addresses (all leads without any)."""
    wanted = {email.lower() for email in emails}
    listed = bot.cli_json("leads", "list")
    return [lead for lead in listed if not wanted or lead["email"].lower() in wanted]


def inbox(bot: RunningBot, *senders: str) -> list[dict]:
    """The inbox rows of mail from these addresses."""
    wanted = {sender.lower() for sender in senders}
    return [m for m in bot.cli_json("inbox", "list") if (m["from"] or "").lower() in wanted]


def test_an_email_becomes_a_lead_with_its_timeline(bot: RunningBot) -> None:
    address = "jane.doe@acme-robotics.io"
    send(bot, enquiry())
    [lead] = bot.wait_until(lambda: leads(bot, address))
    assert re.fullmatch(r"L-[1-9][0-9]*", lead["id"])
    assert lead["email"] == "jane.doe@acme-robotics.io"
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Doe")
    assert lead["company"] == "Acme Robotics GmbH"
    assert lead["title"] == "Head of Operations"
    assert lead["phone"] == "+49301234567"
    assert (lead["status"], lead["stage"], lead["source"]) == ("new", "lead", "email")
    assert lead["owner"] is None and lead["email_status"] == "ok"
    assert lead["created_at"].endswith("Z")

    shown = bot.cli_json("leads", "show", lead["id"])
    kinds = [entry["kind"] for entry in shown["timeline"]]
    # The default rules queue an inbound enquiry for a rep (a hand raised, issue 12).
    assert kinds == ["created", "email.enquiry", "queued"]
    assert "Can you send pricing?" in shown["enquiry"]
    assert "Best regards" not in shown["enquiry"]

    [message] = inbox(bot, address)
    assert (message["state"], message["classification"], message["lead"]) == (
        "done", "enquiry", lead["id"],
    )  # fmt: skip
    assert bot.wait_until(lambda: re.search(rf"lead\.new {lead['id']}\b", bot.log()))


def test_swaks_mail_and_a_second_mail_from_the_same_sender_make_one_lead(bot: RunningBot) -> None:
    def swaks(sender: str, body: str) -> None:
        subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{bot.smtp_port}", "--to", "sales@inbound.test",
             "--from", sender, "--header", "Subject: Demo request", "--body", body],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    address = "bob@northwind-traders.com"
    swaks("bob@northwind-traders.com", "Can we get a demo next week?\n\nBob")
    bot.wait_until(lambda: leads(bot, address))
    swaks("Bob@Northwind-Traders.com", "Any news on the demo?")
    bot.wait_until(lambda: len(inbox(bot, address)) == 2 and all(
        m["state"] == "done" for m in inbox(bot, address)))  # fmt: skip

    [lead] = leads(bot, address)
    assert lead["email"] == "bob@northwind-traders.com"
    assert lead["company"] == "Northwind Traders"
    timeline = bot.cli_json("leads", "show", "bob@northwind-traders.com")["timeline"]
    kinds = [e["kind"] for e in timeline]
    # queued once, by the default rules, whenever the assigner got to it
    assert [k for k in kinds if k != "queued"] == ["created", "email.enquiry", "email.enquiry"]
    assert kinds.count("queued") == 1
    assert "Any news on the demo?" in timeline[-1]["data"]["excerpt"]


def test_a_reply_in_the_thread_lands_on_the_lead(bot: RunningBot) -> None:
    first_address, reply_address = "lena.berg@fjord-systems.no", "lena@fjord-systems.no"
    first = enquiry(sender=f"Lena Berg <{first_address}>",
                    body=signature("Lena Berg", "Fjord Systems AS", "+47 22 123456"))  # fmt: skip
    send(bot, first)
    [lead] = bot.wait_until(lambda: leads(bot, first_address))
    reply = enquiry(
        sender=f"Lena Berg <{reply_address}>",  # another address: the thread decides
        subject="Re: Pricing for 40 seats",
        body="Also, do you support Slack?\n\nOn Mon, Jan 5, 2026 at 10:00, Leads wrote:\n> Hello",
        In_Reply_To=first["Message-ID"],
    )
    send(bot, reply)

    def worked() -> list[dict[str, str]]:  # without the default rules' 'queued', whenever it came
        timeline = bot.cli_json("leads", "show", lead["id"])["timeline"]
        return [entry for entry in timeline if entry["kind"] != "queued"]

    bot.wait_until(lambda: len(worked()) == 3)
    assert len(leads(bot, first_address, reply_address)) == 1
    last = worked()[-1]
    assert last["kind"] == "email.reply"
    assert last["actor"] == f"email:{reply_address}"
    classes = [m["classification"] for m in inbox(bot, first_address, reply_address)]
    assert classes == ["enquiry", "reply"]


def test_relaying_is_refused_and_the_size_limit_holds(bot: RunningBot) -> None:
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.ehlo()
        assert client.mail("spammer@example.com")[0] == 250
        code, text = client.rcpt("victim@gmail.com")
        assert code == 550 and b"relay" in text
        code, _ = client.rcpt("leads@acme-leads.test")
        assert code == 250
        client.rset()
        size = int(client.esmtp_features["size"])
        assert size == 25 * 1024 * 1024
        with pytest.raises(smtplib.SMTPResponseException) as refused:
            client.sendmail(
                "a@b.test", ["leads@acme-leads.test"], b"Subject: x\r\n\r\n" + b"x" * (size + 10)
            )
        assert refused.value.smtp_code == 552
    assert inbox(bot, "spammer@example.com", "a@b.test") == []


def test_lifecycle_from_the_cli_with_illegal_moves_refused(bot: RunningBot) -> None:
    address = "omar.haddad@cedar-logistics.test"
    body = signature("Omar Haddad", "Cedar Logistics SAL", "+961 1 234567")
    send(bot, enquiry(sender=f"Omar Haddad <{address}>", body=body))
    [lead] = bot.wait_until(lambda: leads(bot, address))
    ref = lead["id"]

    assert bot.cli("lead", "qualify", ref).stdout.strip() == f"{ref} is now qualified"
    refused = bot.cli("lead", "qualify", ref, check=False)
    assert refused.returncode == 1
    assert "cannot qualify a lead that is qualified" in refused.stderr
    assert "nurture, trash, convert" in refused.stderr

    assert bot.cli("lead", "nurture", ref).stdout.strip() == f"{ref} is now nurturing"
    bad = bot.cli("lead", "trash", ref, "because", check=False)
    assert bad.returncode == 2 and "reasons: not_a_fit" in bad.stderr
    assert bot.cli("lead", "trash", ref, "not_a_fit").stdout.strip() == f"{ref} is now trashed"
    bot.cli("lead", "note", ref, "called, send pricing")

    shown = bot.cli_json("leads", "show", ref)
    assert (shown["status"], shown["stage"], shown["trash_reason"]) == (
        "trashed",
        "sql",
        "not_a_fit",
    )
    # the default rules queue the enquiry, whenever the assigner gets to it: leave that out
    worked = [e for e in shown["timeline"] if e["kind"] != "queued"][2:]
    kinds = [e["kind"] for e in worked]
    assert kinds == ["status.qualify", "status.nurture", "status.trash", "note"]
    assert worked[-1]["summary"] == "called, send pricing"
    assert all(e["actor"].startswith("cli:") for e in worked)

    unknown = bot.cli("lead", "frobnicate", ref, check=False)
    assert unknown.returncode == 2 and "usage:" in unknown.stderr
    missing = bot.cli("lead", "qualify", "L-999999", check=False)
    assert missing.returncode == 1 and "no lead L-999999" in missing.stderr


def test_health_reports_the_inbox(bot: RunningBot) -> None:
    import httpx

    address = "mei.tanaka@sakura-parts.test"
    body = signature("Mei Tanaka", "Sakura Parts KK", "+81 3 1234 5678")
    send(bot, enquiry(sender=f"Mei Tanaka <{address}>", body=body))
    bot.wait_until(lambda: leads(bot, address))

    def reported() -> bool:  # the inbox as `inbox list` shows it (this and earlier tests' mail)
        health = httpx.get(f"{bot.http_url}/healthz", timeout=5)
        assert health.status_code == 200
        states = Counter(m["state"] for m in bot.cli_json("inbox", "list"))
        return health.json() == {"status": "ok", "inbox": dict(states)}

    bot.wait_until(reported)
    assert [m["state"] for m in inbox(bot, address)] == ["done"]


@pytest.fixture
def own_bot(database_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path, database_url) as running:
        yield running


def test_killed_right_after_250_loses_and_doubles_nothing(own_bot: RunningBot) -> None:
    import signal

    bot = own_bot
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        for n in range(30):
            # 30 different people (one signature for all would rightly be merged into one)
            message = enquiry(
                sender=f"buyer{n}@company-{n}.test",
                body=f"Pricing for {n + 2} seats, please.",
                subject=f"Enquiry {n}",
            )
            client.send_message(message)
    assert bot.process is not None
    workers = children_of(bot.process.pid)
    assert workers, "serve runs its inbox worker as a child process"
    bot.stop(signal.SIGKILL)  # whatever was queued but not processed must survive this
    wait_gone(workers)
    bot.start()
    bot.wait_until(
        lambda: [m["state"] for m in bot.cli_json("inbox", "list")] == ["done"] * 30, timeout=30
    )
    assert sorted(lead["email"] for lead in leads(bot)) == sorted(
        f"buyer{n}@company-{n}.test" for n in range(30)
    )
