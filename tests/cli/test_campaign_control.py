"""A campaign that failed can be fixed (issue 12, items 3 and 4): a dry run and the segment's
size before sending, a non-zero exit and the SMTP reasons when sends fail, `members --state
failed`, `retry --failed` after the fix, pause/resume/stop/delete with the name free again, and
`lead nurture L-… NAME` enrolling the lead (an unknown name refused); tags set by `lead edit`.

Through the real entry point (`python -m bot.cli`, forked warm), sending to a real aiosmtpd sink.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.engine import Store
from tests.campaign_helpers import add_leads
from tests.cli.helpers import add_lead
from tests.fakes.smtp_sink import Sink, smtp_sink
from tests.services.cli import base_env, run_cli


@pytest.fixture
def sink() -> Iterator[Sink]:
    with smtp_sink() as running:
        yield running


class Cli:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env

    def __call__(self, *args: str, code: int = 0) -> Any:
        result = run_cli(list(args), self.workdir, self.env)
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, "--json", code=code).stdout)


def templates(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "q5"
    folder.mkdir(exist_ok=True)
    (folder / "hello.subject.j2").write_text("Hello {{ lead.first_name }}")
    (folder / "hello.txt.j2").write_text(body + "\nUnsubscribe: {{ unsubscribe_url }}\n")
    (folder / "hello.html.j2").write_text(f"<p>{body}</p><p>{{{{ opt_out_link() }}}}</p>")
    return folder


def test_a_failed_campaign_is_fixed_retried_paused_stopped_and_deleted(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    store = Store(database_url)
    add_leads(store, 2)  # nurturing
    new_lead = add_lead(store, "joe@globex.io", first_name="Joe")
    store.dispose()
    env = {**base_env(), "LEADBOT_DATABASE_URL": database_url, "LEADBOT_SECRET_KEY": "k",
           "LEADBOT_OUTBOUND_SMTP_URL": sink.url, "LEADBOT_OUTBOUND_RATE": "0"}  # fmt: skip
    cli = Cli(tmp_path, env)
    # A template that names a variable nobody provides: every send fails at rendering.
    folder = templates(tmp_path, "Hi {{ lead.first_name }}, {{ offer }}")
    created = cli("campaign", "create", "q5", "--templates", str(folder), "--step", "hello:0")
    assert "the segment matches 2 leads now" in created.stdout

    preview = cli.json("campaign", "send", "q5", "--dry-run")
    assert (preview["matches"], preview["would_enrol"], preview["would_send"]) == (2, 2, 2)
    assert cli.json("campaign", "members", "q5") == [] and not sink.delivered  # nothing written

    failed = cli("campaign", "send", "q5", code=1)
    assert "failed 2" in failed.stdout and "'offer' is undefined" in failed.stdout
    assert "leadbot campaign retry q5 --failed" in failed.stdout
    rows = cli.json("campaign", "members", "q5", "--state", "failed")
    assert len(rows) == 2 and all("'offer' is undefined" in r["smtp_reply"] for r in rows)
    assert cli("campaign", "members", "q5", "--state", "bogus", code=1).stderr

    templates(tmp_path, "Hi {{ lead.first_name }}, the spring offer.")
    retried = cli.json("campaign", "retry", "q5", "--failed")
    assert (retried["sent"], retried["failed"]) == (2, 0) and len(sink.delivered) == 2

    # Item 4: nurture into a campaign enrols; an unknown one is refused with the names.
    refused = cli("lead", "nurture", new_lead, "nosuch", code=1)
    assert "no campaign 'nosuch'; campaigns: q5" in refused.stderr
    assert cli.json("leads", "show", new_lead)["status"] == "new"  # unchanged
    assert "in campaign q5" in cli("lead", "nurture", new_lead, "q5").stdout

    # The relay is down: a retry waits (exit 75); paused nothing goes; resumed, retry sends.
    sink.refuse_with = "451 4.3.0 Try again later"
    waiting = cli.json("campaign", "send", "q5", "--no-wait", code=75)
    assert waiting["retry"] == 1
    [row] = cli.json("campaign", "members", "q5", "--state", "pending")
    assert row["lead"] == new_lead and row["smtp_reply"].startswith("451")
    assert "q5 is paused" in cli("campaign", "pause", "q5").stdout
    assert "resume it first" in cli("campaign", "retry", "q5", code=1).stderr
    cli("campaign", "resume", "q5")
    sink.refuse_with = None
    assert cli.json("campaign", "retry", "q5")["sent"] == 1
    assert sink.recipients()[-1] == "joe@globex.io"

    assert "stop it first" in cli("campaign", "delete", "q5", code=1).stderr
    assert "q5 is stopped: 0 members stopped" in cli("campaign", "stop", "q5").stdout
    assert "links keep working" in cli("campaign", "delete", "q5").stdout
    assert cli.json("campaign", "list") == []
    cli("campaign", "create", "q5", "--templates", str(folder), "--step", "hello:0")
    assert cli("campaign", "delete", "q5").stdout == "q5 deleted\n"  # a draft: gone


def test_tags_set_by_lead_edit_make_a_tag_segment_match(sqlite_url: str, tmp_path: Path) -> None:
    store = Store(sqlite_url)
    lead = add_lead(store, "ann@acme.io", status="nurturing")
    add_lead(store, "bo@acme.io", status="nurturing")
    store.dispose()
    cli = Cli(tmp_path, {**base_env(), "LEADBOT_DATABASE_URL": sqlite_url})
    edited = cli.json("lead", "edit", lead, "--set", "country=de", "--tag", "webinar")
    assert edited["lead"]["country"] == "DE" and edited["lead"]["custom"]["tags"] == ["webinar"]
    bad = cli("lead", "edit", lead, "--set", "country=Germany", code=1)
    assert "two-letter ISO 3166 code" in bad.stderr
    cli("campaign", "create", "webinar", "--step", "welcome:0", "--tag", "webinar")
    assert cli.json("campaign", "send", "webinar", "--dry-run")["would_enrol"] == 1
