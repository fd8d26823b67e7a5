"""A prospect's email reaches the real SMTP listener and becomes a lead a rep can see."""

from __future__ import annotations

import smtplib
import subprocess
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tests.services.bot import RunningBot, children_of, wait_gone

SIGNATURE = """Hi,

we are looking for a lead routing tool for our 40-person sales team. Can you send pricing?

Best regards,
Jane Doe
Head of Operations
Acme Robotics GmbH
Tel: +49 30 1234567
"""


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


def send(bot: RunningBot, message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.send_message(message, to_addrs=to)


def leads(bot: RunningBot) -> list[dict]:
    return bot.cli_json("leads", "list")


def test_an_email_becomes_a_lead_with_its_timeline(bot: RunningBot) -> None:
    send(bot, enquiry())
    [lead] = bot.wait_until(lambda: leads(bot))
    assert lead["id"] == "L-1"
    assert lead["email"] == "jane.doe@acme-robotics.io"
    assert (lead["first_name"], lead["last_name"]) == ("Jane", "Doe")
    assert lead["company"] == "Acme Robotics GmbH"
    assert lead["title"] == "Head of Operations"
    assert lead["phone"] == "+49301234567"
    assert (lead["status"], lead["stage"], lead["source"]) == ("new", "lead", "email")
    assert lead["owner"] is None and lead["email_status"] == "ok"
    assert lead["created_at"].endswith("Z")

    shown = bot.cli_json("leads", "show", "L-1")
    kinds = [entry["kind"] for entry in shown["timeline"]]
    # The default rules queue an inbound enquiry for a rep (a hand raised, issue 12).
    assert kinds == ["created", "email.enquiry", "queued"]
    assert "Can you send pricing?" in shown["enquiry"]
    assert "Best regards" not in shown["enquiry"]

    [message] = bot.cli_json("inbox", "list")
    assert (message["state"], message["classification"], message["lead"]) == (
        "done", "enquiry", "L-1",
    )  # fmt: skip
    assert bot.wait_until(lambda: "lead.new L-1" in bot.log())


def test_swaks_mail_and_a_second_mail_from_the_same_sender_make_one_lead(bot: RunningBot) -> None:
    def swaks(sender: str, body: str) -> None:
        subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{bot.smtp_port}", "--to", "sales@inbound.test",
             "--from", sender, "--header", "Subject: Demo request", "--body", body],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    swaks("bob@northwind-traders.com", "Can we get a demo next week?\n\nBob")
    bot.wait_until(lambda: leads(bot))
    swaks("Bob@Northwind-Traders.com", "Any news on the demo?")
    bot.wait_until(lambda: len(bot.cli_json("inbox", "list")) == 2 and all(
        m["state"] == "done" for m in bot.cli_json("inbox", "list")))  # fmt: skip

    [lead] = leads(bot)
    assert lead["email"] == "bob@northwind-traders.com"
    assert lead["company"] == "Northwind Traders"
    timeline = bot.cli_json("leads", "show", "bob@northwind-traders.com")["timeline"]
    kinds = [e["kind"] for e in timeline]
    # queued once, by the default rules, whenever the assigner got to it
    assert [k for k in kinds if k != "queued"] == ["created", "email.enquiry", "email.enquiry"]
    assert kinds.count("queued") == 1
    assert "Any news on the demo?" in timeline[-1]["data"]["excerpt"]


def test_a_reply_in_the_thread_lands_on_the_lead(bot: RunningBot) -> None:
    first = enquiry()
    send(bot, first)
    bot.wait_until(lambda: leads(bot))
    reply = enquiry(
        sender="Jane Doe <jane@acme-robotics.io>",  # another address: the thread decides
        subject="Re: Pricing for 40 seats",
        body="Also, do you support Slack?\n\nOn Mon, Jan 5, 2026 at 10:00, Leads wrote:\n> Hello",
        In_Reply_To=first["Message-ID"],
    )
    send(bot, reply)
    bot.wait_until(lambda: len(bot.cli_json("leads", "show", "L-1")["timeline"]) == 3)
    assert len(leads(bot)) == 1
    last = bot.cli_json("leads", "show", "L-1")["timeline"][-1]
    assert last["kind"] == "email.reply"
    assert last["actor"] == "email:jane@acme-robotics.io"
    classes = [m["classification"] for m in bot.cli_json("inbox", "list")]
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
    assert bot.cli_json("inbox", "list") == []


def test_lifecycle_from_the_cli_with_illegal_moves_refused(bot: RunningBot) -> None:
    send(bot, enquiry())
    bot.wait_until(lambda: leads(bot))

    assert bot.cli("lead", "qualify", "L-1").stdout.strip() == "L-1 is now qualified"
    refused = bot.cli("lead", "qualify", "L-1", check=False)
    assert refused.returncode == 1
    assert "cannot qualify a lead that is qualified" in refused.stderr
    assert "nurture, trash, convert" in refused.stderr

    assert bot.cli("lead", "nurture", "L-1").stdout.strip() == "L-1 is now nurturing"
    bad = bot.cli("lead", "trash", "L-1", "because", check=False)
    assert bad.returncode == 2 and "reasons: not_a_fit" in bad.stderr
    assert bot.cli("lead", "trash", "L-1", "not_a_fit").stdout.strip() == "L-1 is now trashed"
    bot.cli("lead", "note", "L-1", "called, send pricing")

    shown = bot.cli_json("leads", "show", "L-1")
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

    unknown = bot.cli("lead", "frobnicate", "L-1", check=False)
    assert unknown.returncode == 2 and "usage:" in unknown.stderr
    missing = bot.cli("lead", "qualify", "L-99", check=False)
    assert missing.returncode == 1 and "no lead L-99" in missing.stderr


def test_health_reports_the_inbox(bot: RunningBot) -> None:
    import httpx

    send(bot, enquiry())
    bot.wait_until(lambda: leads(bot))
    health = httpx.get(f"{bot.http_url}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "inbox": {"done": 1}}


def test_killed_right_after_250_loses_and_doubles_nothing(bot: RunningBot) -> None:
    import signal

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
