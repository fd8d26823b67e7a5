"""Block Kit for lead cards, modals and App Home: structure, Slack's limits, escaping, buttons
per status, and modal submissions read back from the shape Slack sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.integrations.slack import blocks
from bot.leads.lifecycle import TRASH_REASONS, Status
from bot.public_links import PublicLinks
from storage.models import Lead, TimelineEntry
from tests.fakes.slack_signing import interactivity_body, view_submission_payload

PUBLIC_URL = "https://leads.example.com"
LINKS = PublicLinks(PUBLIC_URL, "test-secret")
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def make_lead(**fields: Any) -> Lead:
    values: dict[str, Any] = {
        "id": 12,
        "email": "jane@acme.io",
        "first_name": "Jane",
        "last_name": "Doe",
        "company": "Acme Inc",
        "title": "CTO",
        "source": "email",
        "reply_token": "tok12",
        "enquiry": "Can you send pricing for 40 seats?",
        "version": 3,
        "created_at": T0,
    }
    values.update(fields)
    return Lead(**values)


def entry(kind: str, summary: str, minutes: int = 0, **fields: Any) -> TimelineEntry:
    values: dict[str, Any] = {"lead_id": 12, "actor": "system", "kind": kind, "summary": summary}
    values.update(fields)
    return TimelineEntry(at=T0 + timedelta(minutes=minutes), **values)


def text_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every text object (plain_text or mrkdwn) anywhere in a block tree."""
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from text_objects(value)


def elements_of(node: Any, kind: str) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == kind:
            yield node
        for value in node.values():
            yield from elements_of(value, kind)
    elif isinstance(node, list):
        for value in node:
            yield from elements_of(value, kind)


def assert_valid_blocks(items: list[dict[str, Any]]) -> None:
    """slack_sdk's models know Slack's limits; each block must parse back unchanged."""
    for item in items:
        model = Block.parse(item)
        assert model is not None, item
        model.validate_json()
        assert model.to_dict() == item


def assert_valid_view(view: dict[str, Any]) -> None:
    View(**view).validate_json()
    assert_valid_blocks(view["blocks"])
    json.dumps(view)


def action_ids(items: list[dict[str, Any]]) -> list[str]:
    return [el["action_id"] for el in elements_of(items, "button")]


# ---- the lead card -----------------------------------------------------------------------


def test_card_structure() -> None:
    lead = make_lead(score=42.5, grade="B")
    timeline = [
        entry("created", "lead created from email", 0, actor="email:jane@acme.io"),
        entry("note", "called, send pricing", 5, actor="rep:Ann Lee"),
        entry("score", "+10 opened the email", 6),
        entry("assigned", "assigned to Ann Lee", 7, actor="cli:root"),
    ]
    card = blocks.lead_card(lead, timeline, "Ann Lee", LINKS)
    assert_valid_blocks(card)
    assert [b["type"] for b in card] == ["header", "section", "section", "context", "actions"]
    assert card[0]["text"]["text"] == "L-12 Jane Doe · Acme Inc"
    fields = [f["text"] for f in card[1]["fields"]]
    assert fields == [
        "*Email*\njane@acme.io",
        "*Company*\nAcme Inc",
        "*Title*\nCTO",
        "*Source*\nemail",
        "*Status*\nnew",
        "*Stage*\nlead",
        "*Score · grade*\n42.5 · B",
        "*Owner*\nAnn Lee",
    ]
    assert card[2]["text"]["text"] == ">Can you send pricing for 40 seats?"
    events = [el["text"] for el in card[3]["elements"]]
    assert events == [
        "Nov 02 09:35 UTC · Ann Lee · called, send pricing",
        "Nov 02 09:36 UTC · leadbot · +10 opened the email",
        "Nov 02 09:37 UTC · root (CLI) · assigned to Ann Lee",
    ]
    assert action_ids(card) == [
        "lead_qualify",
        "lead_nurture",
        "lead_trash",
        "lead_convert",
        "lead_open",
    ]
    buttons = {b["action_id"]: b for b in elements_of(card, "button")}
    assert all(b["value"] == "12:3" for b in buttons.values())
    assert buttons["lead_trash"]["style"] == "danger"
    assert buttons["lead_convert"]["style"] == "primary"
    assert "style" not in buttons["lead_qualify"]
    assert_signed_page_link(buttons["lead_open"]["url"], 12)


def test_card_without_score_enquiry_timeline_or_owner() -> None:
    lead = make_lead(company="", title="", enquiry="  ", first_name="", last_name="")
    card = blocks.lead_card(lead, [], None, PublicLinks(PUBLIC_URL + "/", "test-secret"))
    assert_valid_blocks(card)
    assert [b["type"] for b in card] == ["header", "section", "actions"]
    assert card[0]["text"]["text"] == "L-12 jane@acme.io"
    fields = [f["text"] for f in card[1]["fields"]]
    assert "*Company*\n—" in fields
    assert "*Owner*\n_unassigned_" in fields
    assert not any(f.startswith("*Score") for f in fields)
    assert_signed_page_link(card[-1]["elements"][-1]["url"], 12)


def test_grade_alone_is_shown() -> None:
    card = blocks.lead_card(make_lead(grade="A"), [], None, LINKS)
    assert "*Score · grade*\nA" in [f["text"] for f in card[1]["fields"]]


EXPECTED_BUTTONS = {
    Status.NEW: ["lead_qualify", "lead_nurture", "lead_trash", "lead_convert"],
    Status.WORKING: ["lead_qualify", "lead_nurture", "lead_trash", "lead_convert"],
    Status.QUALIFIED: ["lead_nurture", "lead_trash", "lead_convert"],
    Status.NURTURING: ["lead_qualify", "lead_trash", "lead_reopen"],
    Status.CONVERTED: ["lead_unconvert"],
    Status.TRASHED: ["lead_reopen"],
}


@pytest.mark.parametrize("status", list(Status))
def test_buttons_follow_the_lifecycle(status: Status) -> None:
    lead = make_lead(status=status.value, trash_reason="no_budget" if status == "trashed" else None)
    card = blocks.lead_card(lead, [], None, LINKS)
    assert_valid_blocks(card)
    assert action_ids(card) == [*EXPECTED_BUTTONS[status], "lead_open"]


def test_converted_card_says_by_whom() -> None:
    lead = make_lead(status="converted", stage="opportunity")
    timeline = [entry("status.convert", "convert: qualified → converted", actor="rep:Ann Lee")]
    card = blocks.lead_card(lead, timeline, "Ann Lee", LINKS)
    contexts = [el["text"] for b in card if b["type"] == "context" for el in b["elements"]]
    assert ":white_check_mark: converted by Ann Lee" in contexts
    assert action_ids(card) == ["lead_unconvert", "lead_open"]


def test_flagged_card_offers_merge_and_notdup_until_decided() -> None:
    lead = make_lead()
    data = {"other": "L-7", "weights": "name +14.2, street +9.8, phone -4.1"}
    flagged = entry("duplicate.flagged", "possible duplicate of L-7 (87%)", data=data)
    card = blocks.lead_card(lead, [flagged], None, LINKS)
    contexts = [el["text"] for b in card if b["type"] == "context" for el in b["elements"]]
    assert (
        ":warning: possible duplicate of L-7 (87%) (name +14.2, street +9.8, phone -4.1) · "
        "`/lead merge L-12 L-7` or `/lead notdup L-12 L-7` · `/lead why-duplicate L-12 L-7`"
    ) in contexts
    assert_valid_blocks(card)
    dismissed = entry("duplicate.dismissed", "not a duplicate of L-7", minutes=1)
    card = blocks.lead_card(lead, [flagged, dismissed], None, LINKS)
    assert not any(":warning:" in t["text"] for t in text_objects(card))


def test_merged_card_points_at_the_survivor_and_has_no_buttons() -> None:
    card = blocks.lead_card(make_lead(merged_into_id=7), [], None, LINKS)
    contexts = [el["text"] for b in card if b["type"] == "context" for el in b["elements"]]
    assert ":twisted_rightwards_arrows: merged into L-7 · undo: `/lead unmerge L-12`" in contexts
    assert action_ids(card) == []


def test_trashed_card_says_why() -> None:
    lead = make_lead(status="trashed", trash_reason="student_or_job_seeker")
    timeline = [
        entry(
            "status.trash",
            "trash: new → trashed (Student or job seeker): <!channel> thesis",
            data={"reason": "student_or_job_seeker", "comment": "<!channel> thesis"},
        )
    ]
    card = blocks.lead_card(lead, timeline, None, LINKS)
    contexts = [el["text"] for b in card if b["type"] == "context" for el in b["elements"]]
    assert ":wastebasket: trashed: Student or job seeker (&lt;!channel&gt; thesis)" in contexts
    assert action_ids(card) == ["lead_reopen", "lead_open"]


HOSTILE_LEAD = {
    "first_name": "<!channel>",
    "last_name": "@here *FREE* <@U0BOSS>",
    "company": "<http://evil.example|Acme>",
    "title": "_urgent_ <!everyone>",
    "email": "x@evil.example",
    "source": "<#C0GENERAL>",
    "grade": "<!here>",
    "enquiry": "Hi <!channel>, wire money to <https://evil.example|your bank> @everyone\n> quote",
}


def assert_inert(items: Any) -> None:
    """No text object can form a link, a mention or a broadcast."""
    for obj in text_objects(items):
        text = obj["text"]
        if obj["type"] == "mrkdwn":
            ours = re.sub(r"(?m)^>", "", text)  # the enquiry quote is our markup
            assert "<" not in ours and ">" not in ours, text
            assert re.fullmatch(r"(?s)(?:[^&]|&(?:amp|lt|gt);)*", text), text
        else:
            assert "<" not in text and ">" not in text, text
        assert not re.search(r"(?<!\w)@(channel|here|everyone)\b", text, re.IGNORECASE), text


def test_outside_text_is_inert_everywhere() -> None:
    lead = make_lead(**HOSTILE_LEAD, status="trashed", trash_reason="spam")
    timeline = [
        entry("note", "<!channel> see <http://evil.example|this>", actor="email:<!here>"),
        entry("status.trash", "trash", data={"comment": "<@U0BOSS> @channel"}),
    ]
    card = blocks.lead_card(lead, timeline, "<!channel> Ann", LINKS)
    assert_valid_blocks(card)
    assert_inert(card)
    assert_inert(blocks.lead_card_text(lead))
    assert "<" not in blocks.lead_card_text(lead)
    for status in ("new", "converted"):
        assert_inert(blocks.lead_card(make_lead(**HOSTILE_LEAD, status=status), [], None, LINKS))
    assert_inert(blocks.trash_modal(lead))
    assert_inert(blocks.home_tab("<!channel>", [lead], [lead]))
    assert_inert(blocks.lead_list_blocks("<!channel> found", [lead]))
    assert_inert(blocks.message_blocks("no lead '<!channel>'"))
    assert_inert(blocks.usage_blocks("usage: trash <lead> <reason> @here"))
    proposal = conversion_proposal(
        account_name="<http://evil.example|Acme>", contact_name="<!channel>"
    )
    assert_inert(blocks.convert_modal(proposal)["blocks"][0])
    # The only URL on a card is ours.
    urls = [b.get("url") for b in elements_of(card, "button") if b.get("url")]
    assert len(urls) == 1
    assert_signed_page_link(urls[0], 12)


def test_fallback_text() -> None:
    assert blocks.lead_card_text(make_lead()) == "L-12 Jane Doe (Acme Inc): new"
    assert blocks.lead_card_text(make_lead(first_name="<!here>", company="")).startswith(
        "L-12 &lt;!here&gt; Doe"
    )


def test_long_text_fits_slacks_limits() -> None:
    lead = make_lead(
        first_name="Ö" * 400,
        last_name="&" * 400,
        company="<" * 2000,
        title="x" * 5000,
        enquiry=("word " * 400) + "\n" + "&<>" * 1000,
    )
    timeline = [entry("note", "&" * 5000, i) for i in range(5)]
    card = blocks.lead_card(lead, timeline, "n" * 3000, LINKS)
    assert_valid_blocks(card)
    assert len(card[0]["text"]["text"]) <= blocks.HEADER_TEXT_MAX
    for field in card[1]["fields"]:
        assert len(field["text"]) <= blocks.FIELD_TEXT_MAX
    quote = card[2]["text"]["text"]
    assert quote.endswith("…") and len(quote.replace("\n>", "")) <= blocks.ENQUIRY_MAX + 2
    for obj in text_objects(card):
        assert len(obj["text"]) <= blocks.SECTION_TEXT_MAX
    for b in elements_of(card, "button"):
        assert len(b["text"]["text"]) <= blocks.BUTTON_TEXT_MAX


def test_enquiry_keeps_its_lines_as_a_quote() -> None:
    card = blocks.lead_card(make_lead(enquiry="Hello,\n\n  we need *40* seats.\n"), [], None, LINKS)
    assert card[2]["text"]["text"] == ">Hello,\n>we need \u221740\u2217 seats."


# ---- the trash modal ---------------------------------------------------------------------


def test_trash_modal() -> None:
    view = blocks.trash_modal(make_lead())
    assert_valid_view(view)
    assert view["type"] == "modal"
    assert view["callback_id"] == "trash_lead"
    assert view["private_metadata"] == "12:3"
    reason, comment = (b for b in view["blocks"] if b["type"] == "input")
    assert (reason["block_id"], reason["element"]["action_id"]) == ("reason", "reason")
    assert reason["element"]["type"] == "static_select"
    assert reason["optional"] is False
    options = reason["element"]["options"]
    assert [o["value"] for o in options] == list(TRASH_REASONS)
    assert [o["text"]["text"] for o in options] == list(TRASH_REASONS.values())
    assert (comment["block_id"], comment["element"]["action_id"]) == ("comment", "comment")
    assert comment["element"]["type"] == "plain_text_input"
    assert comment["optional"] is True


def submitted_values(view: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Submit `view` as Slack would, through the form-encoded body, and read the state back."""
    body = interactivity_body(view_submission_payload(view, answers))
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "view_submission"
    assert payload["view"]["callback_id"] == view["callback_id"]
    assert payload["view"]["private_metadata"] == view["private_metadata"]
    return payload["view"]["state"]["values"]


def test_trash_submission_round_trip() -> None:
    view = blocks.trash_modal(make_lead())
    values = submitted_values(view, {"reason": "competitor", "comment": "  went with Foo  "})
    assert values["reason"]["reason"]["selected_option"]["text"]["text"] == "Competitor"
    assert blocks.read_trash_submission(values) == ("competitor", "went with Foo")


def test_trash_submission_without_reason_or_comment() -> None:
    values = submitted_values(blocks.trash_modal(make_lead()), {"reason": None})
    assert values["comment"]["comment"] == {"type": "plain_text_input", "value": None}
    assert blocks.read_trash_submission(values) == ("", "")
    assert blocks.read_trash_submission({}) == ("", "")


# ---- the convert modal -------------------------------------------------------------------


def conversion_proposal(**fields: Any) -> dict[str, Any]:
    proposal: dict[str, Any] = {
        "lead_id": 12,
        "version": 3,
        "account_id": 3,
        "account_name": "Acme Inc",
        "domain": "acme.io",
        "contact_name": "Jane Doe",
        "contact_email": "jane@acme.io",
        "opportunity_name": "Acme Inc - new business",
        "amount": None,
        "close_date": "2026-12-02",
        "stage": "prospecting",
    }
    proposal.update(fields)
    return proposal


def test_convert_modal() -> None:
    view = blocks.convert_modal(conversion_proposal())
    assert_valid_view(view)
    assert view["callback_id"] == "convert_lead"
    assert view["private_metadata"] == "12:3"
    assert view["blocks"][0]["type"] == "section"
    assert "Existing account: Acme Inc (A-3)" in view["blocks"][0]["text"]["text"]
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["account", "opportunity", "amount", "close_date", "stage"]
    assert inputs["account"]["element"]["initial_value"] == "Acme Inc"
    assert inputs["opportunity"]["element"]["initial_value"] == "Acme Inc - new business"
    assert inputs["amount"]["element"]["type"] == "number_input"
    assert inputs["amount"]["optional"] is True
    assert "initial_value" not in inputs["amount"]["element"]
    assert inputs["close_date"]["element"] == {
        "type": "datepicker",
        "action_id": "close_date",
        "initial_date": "2026-12-02",
    }
    stage = inputs["stage"]["element"]
    assert stage["type"] == "static_select"
    assert [o["value"] for o in stage["options"]] == [
        "prospecting",
        "qualification",
        "proposal",
        "negotiation",
    ]
    assert stage["initial_option"]["value"] == "prospecting"
    for block in inputs.values():
        assert block["element"]["action_id"] == block["block_id"]


def test_convert_modal_for_a_new_account() -> None:
    view = blocks.convert_modal(
        conversion_proposal(account_id=None, amount=25000.0, stage="proposal")
    )
    assert_valid_view(view)
    summary = view["blocks"][0]["text"]["text"]
    assert "new account will be created: Acme Inc" in summary
    assert "Existing account" not in summary
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["amount"]["element"]["initial_value"] == "25000"
    assert inputs["stage"]["element"]["initial_option"]["value"] == "proposal"


def test_convert_submission_round_trip() -> None:
    view = blocks.convert_modal(conversion_proposal())
    answers = {
        "account": "Acme Holdings",
        "opportunity": "Acme rollout",
        "amount": "25000.50",
        "close_date": "2027-01-15",
        "stage": "negotiation",
    }
    values = submitted_values(view, answers)
    assert values["amount"]["amount"] == {"type": "number_input", "value": "25000.50"}
    assert values["close_date"]["close_date"] == {
        "type": "datepicker",
        "selected_date": "2027-01-15",
    }
    assert blocks.read_convert_submission(values) == {
        "account_name": "Acme Holdings",
        "opportunity_name": "Acme rollout",
        "amount": 25000.5,
        "close_date": "2027-01-15",
        "stage": "negotiation",
    }


def test_convert_submission_keeps_the_defaults() -> None:
    values = submitted_values(blocks.convert_modal(conversion_proposal()), {})
    assert blocks.read_convert_submission(values) == {
        "account_name": "Acme Inc",
        "opportunity_name": "Acme Inc - new business",
        "amount": None,
        "close_date": "2026-12-02",
        "stage": "prospecting",
    }


@pytest.mark.parametrize("amount", ["lots", "-5", "nan"])
def test_convert_submission_refuses_a_bad_amount(amount: str) -> None:
    values = submitted_values(blocks.convert_modal(conversion_proposal()), {"amount": amount})
    with pytest.raises(ValueError):
        blocks.read_convert_submission(values)


# ---- App Home and answers ----------------------------------------------------------------


def test_home_tab() -> None:
    older = make_lead(id=3, first_name="Old", created_at=T0 - timedelta(days=3), version=7)
    newer = make_lead(id=9, first_name="New", created_at=T0)
    waiting = make_lead(id=20, first_name="Queued", company="")
    view = blocks.home_tab("Ann Lee", [newer, older], [waiting])
    assert_valid_view(view)
    assert view["type"] == "home"
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert texts == [
        "*My open leads* (2)",
        "*L-3* Old Doe · Acme Inc · new",
        "*L-9* New Doe · Acme Inc · new",
        "*Waiting in the queue* (1)",
        "*L-20* Queued Doe · new",
    ]
    shows = list(elements_of(view, "button"))
    assert [(b["action_id"], b["value"]) for b in shows] == [
        ("lead_show", "3:7"),
        ("lead_show", "9:3"),
    ]


def test_home_tab_when_empty_and_when_long() -> None:
    empty = blocks.home_tab("Ann", [], [])
    assert_valid_view(empty)
    contexts = [b["elements"][0]["text"] for b in empty["blocks"] if b["type"] == "context"]
    assert contexts == ["You have no open leads.", "Nothing is waiting."]
    many = [make_lead(id=i, created_at=T0 + timedelta(minutes=i)) for i in range(1, 120)]
    full = blocks.home_tab("Ann", many, many)
    assert_valid_view(full)
    assert len(full["blocks"]) <= blocks.VIEW_BLOCKS_MAX
    assert "… and 79 more" in [
        b["elements"][0]["text"] for b in full["blocks"] if b["type"] == "context"
    ]


def test_answers() -> None:
    assert blocks.message_blocks("L-3 qualified") == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "L-3 qualified", "verbatim": True}}
    ]
    usage = blocks.usage_blocks("usage: trash <lead> <reason>")
    assert_valid_blocks(usage)
    assert usage[0]["text"]["text"] == "```usage: trash &lt;lead&gt; &lt;reason&gt;```"
    long_usage = blocks.usage_blocks("x" * 5000)
    assert_valid_blocks(long_usage)
    assert long_usage[0]["text"]["text"].endswith("…```")
    listing = blocks.lead_list_blocks("2 open leads for Ann", [make_lead(), make_lead(id=13)])
    assert_valid_blocks(listing)
    assert len(listing) == 3
    assert len(blocks.lead_list_blocks("many", [make_lead(id=i) for i in range(1, 99)])) <= 50


def assert_signed_page_link(url: str, lead_id: int) -> None:
    """The Open button goes to the lead's page with a token signed for that lead only."""
    page, _, token = url.partition("?t=")
    assert page == f"{PUBLIC_URL}/leads/{lead_id}"
    assert LINKS.lead_page_allows(token, lead_id)
    assert not LINKS.lead_page_allows(token, lead_id + 1)
    assert not PublicLinks(PUBLIC_URL, "another-secret").lead_page_allows(token, lead_id)
