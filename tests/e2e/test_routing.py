"""Through the real `leadbot serve`: enrichment routes email leads by territory and language.

A German and an Austrian prospect (known only by their phones, domain and signature) are
routed by a `dach` territory rule; a prospect writing in Spanish goes to the rep who speaks it.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from tests.services.bot import RunningBot, running_bot

RULES = """
[scoring.points]
enquiry = 30

[mql]
min_score = 30
min_grade = "D"

[territories]
dach = ["DE", "AT", "CH"]

[[assignment.rule]]
name = "DACH"
when = { territory = "dach" }
rep = "ann@sales.test"

[[assignment.rule]]
name = "Spanish"
when = { language = "es" }
pool = ["bob@sales.test", "carla@sales.test"]

[[assignment.rule]]
name = "everyone else"
pool = ["bob@sales.test"]
"""

MAILS = [
    (
        "Hans Maier <hans@bergbau-werke.de>",
        "Guten Tag,\n\nbitte schicken Sie uns ein Angebot für vierzig Arbeitsplätze.\n\n"
        "--\nHans Maier\nBergbau Werke GmbH\nTel. +49 89 1234567\n",
    ),
    (
        "Anna Gruber <anna@gruber-holz.com>",
        "Hello, we would like a quote for our three sawmills, please.\n\n"
        "Best regards\nAnna Gruber\nGruber Holz\nKärntner Straße 5\nA-1010 Wien\n",
    ),
    (
        "Lucía García <lucia@garcia-logistica.com>",
        "Hola, quisiéramos recibir una propuesta para nuestro equipo de ventas de veinte"
        " personas.\n\nSaludos,\nLucía García\n",
    ),
]


@pytest.fixture
def bot(database_url: str, tmp_path: Path) -> Iterator[RunningBot]:
    (tmp_path / "rules.toml").write_text(RULES)
    with running_bot(tmp_path, database_url, LEADBOT_RULES="rules.toml") as running:
        running.cli("reps", "add", "Ann Lee", "ann@sales.test", "--languages", "de,en")
        running.cli("reps", "add", "Bob Ray", "bob@sales.test", "--languages", "en")
        running.cli("reps", "add", "Carla Ruiz", "carla@sales.test", "--languages", "es,en")
        yield running


def send(bot: RunningBot, sender: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = "Angebot / quote / propuesta"
    message["Message-ID"] = make_msgid(domain="prospect.test")
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", bot.smtp_port, timeout=10) as client:
        client.send_message(message)


def owners(bot: RunningBot) -> dict[str, str | None]:
    return {lead["email"]: lead["owner"] for lead in bot.cli_json("leads", "list")}


def test_dach_and_spanish_leads_are_routed_by_what_their_mail_says(bot: RunningBot) -> None:
    for sender, body in MAILS:
        send(bot, sender, body)
    assigned = bot.wait_until(
        lambda: (found := owners(bot)) and len(found) == 3 and all(found.values()) and found
    )
    assert assigned == {
        "hans@bergbau-werke.de": "ann@sales.test",
        "anna@gruber-holz.com": "ann@sales.test",
        "lucia@garcia-logistica.com": "carla@sales.test",
    }
    leads = {lead["email"]: lead for lead in bot.cli_json("leads", "list")}
    hans, anna, lucia = (leads[m[0].split("<")[1].rstrip(">")] for m in MAILS)
    assert (hans["country"], hans["language"]) == ("DE", "de")
    assert (anna["country"], anna["city"], anna["postal_code"]) == ("AT", "Wien", "1010")
    assert lucia["language"] == "es"
    why = bot.cli("lead", "why", hans["id"]).stdout
    assert "country DE: phone +49891234567 has the country code of DE (+49)" in why
    assert "time zone Europe/Berlin" in why
    explained = bot.cli("assign", "explain", lucia["id"]).stdout
    assert "does not speak es" in explained
