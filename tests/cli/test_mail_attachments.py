"""Attachments of an inbound mail listed on the lead's timeline (issue 12, item 13), through the
real `leadbot` entry point on both stores: names, types and sizes, never the content."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

from tests.services.cli import base_env, run_cli


def test_attachments_are_listed_on_the_timeline_without_their_content(
    database_url: str, tmp_path: Path
) -> None:
    message = EmailMessage()
    message["From"] = "Website <noreply@forms.globex-site.com>"
    message["To"] = "leads@localhost"
    message["Subject"] = "New contact form submission"
    message["Message-ID"] = "<form-1@globex-site.com>"
    message.set_content("Name: Hank Scorpio\nEmail: hank@globex.com\nCompany: Globex Corporation\n"
                        "Country: United States\nPhone: (415) 555-0100\n")  # fmt: skip
    message.add_attachment(b"SECRET-PDF-BYTES " * 64, maintype="application", subtype="pdf",
                           filename="Anforderungen Q3.pdf")  # fmt: skip
    message.add_attachment("a,b\n1,2\n", subtype="csv", filename="seats.csv")
    path = tmp_path / "form.eml"
    path.write_bytes(message.as_bytes())
    env = {**base_env(), "LEADBOT_DATABASE_URL": database_url, "COLUMNS": "200"}
    imported = run_cli(["inbox", "import", str(path)], tmp_path, env)
    assert imported.returncode == 0, imported.stderr

    shown = run_cli(["leads", "show", "hank@globex.com"], tmp_path, env)
    assert shown.returncode == 0, shown.stderr
    assert "attached: Anforderungen Q3.pdf (application/pdf, 1,088 bytes)" in shown.stdout
    assert "attached: seats.csv (text/csv, 8 bytes)" in shown.stdout
    assert "SECRET-PDF-BYTES" not in shown.stdout
    lead = json.loads(run_cli(["leads", "show", "hank@globex.com", "--json"], tmp_path, env).stdout)
    assert (lead["company"], lead["country"], lead["phone"]) == (
        "Globex Corporation", "US", "+14155550100",
    )  # fmt: skip
    [enquiry] = [e for e in lead["timeline"] if e["kind"] == "email.enquiry"]
    assert enquiry["data"]["attachments"] == [
        {"name": "Anforderungen Q3.pdf", "type": "application/pdf", "size": 1088},
        {"name": "seats.csv", "type": "text/csv", "size": 8},
    ]
    assert "SECRET-PDF-BYTES" not in json.dumps(lead)
