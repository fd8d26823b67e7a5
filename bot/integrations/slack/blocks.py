"""Block Kit for leadbot, built by small pure functions: the lead card, the trash and convert
modals (and reading their submissions back), the App Home tab and short answers.

Everything that came from outside goes through `mrkdwn.escape` (mrkdwn) or `mrkdwn.plain`
(plain_text), and everything is cut to Slack's limits, so no lead can break or forge a card.
Buttons carry `"{lead_id}:{version}"`, so a click on a stale card is recognised and refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from bot.integrations.slack.mrkdwn import escape, escape_controls, plain, truncate
from bot.leads.lifecycle import TRASH_REASONS, allowed_verbs
from bot.leads.refs import lead_label
from bot.public_links import PublicLinks
from storage.models import Lead, TimelineEntry

Block = dict[str, Any]

# Slack's limits (Block Kit reference).
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
OPTION_TEXT_MAX = 75
MODAL_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100

ENQUIRY_MAX = 300
TIMELINE_SHOWN = 3
NAME_INPUT_MAX = 255
COMMENT_MAX = 500

# The card's buttons, in the order they appear: verb → (label, style).
CARD_BUTTONS: dict[str, tuple[str, str | None]] = {
    "qualify": ("Qualify", None),
    "nurture": ("Nurture", None),
    "trash": ("Trash", "danger"),
    "convert": ("Convert", "primary"),
    "unconvert": ("Unconvert", None),
    "reopen": ("Reopen", None),
}
OPEN_ACTION_ID = "lead_open"
SHOW_ACTION_ID = "lead_show"

TRASH_CALLBACK_ID = "trash_lead"
CONVERT_CALLBACK_ID = "convert_lead"
OPPORTUNITY_STAGES = ("prospecting", "qualification", "proposal", "negotiation")


# ---- text objects and small blocks ---------------------------------------------------------


def plain_text(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    """A plain_text object of our own text (use `mrkdwn.plain` first for outside text)."""
    return {"type": "plain_text", "text": truncate(text or " ", limit), "emoji": True}


def mrkdwn_text(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    """A mrkdwn object of already escaped text; verbatim, so Slack adds no links of its own."""
    return {"type": "mrkdwn", "text": truncate(text or " ", limit), "verbatim": True}


def section(text: str, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn_text(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def header(text: str) -> Block:
    return {"type": "header", "text": plain_text(text, HEADER_TEXT_MAX)}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn_text(text) for text in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def button(
    label: str,
    action_id: str,
    value: str | None = None,
    *,
    style: str | None = None,
    url: str | None = None,
) -> Block:
    element: Block = {
        "type": "button",
        "text": plain_text(label, BUTTON_TEXT_MAX),
        "action_id": action_id,
    }
    if value is not None:
        element["value"] = value[:BUTTON_VALUE_MAX]
    if style is not None:
        element["style"] = style
    if url is not None:
        element["url"] = url
    return element


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain_text(text, OPTION_TEXT_MAX), "value": value}


# ---- how a lead reads ----------------------------------------------------------------------


def lead_name(lead: Lead) -> str:
    """The person's name, else the address: raw outside text, escape it where it goes."""
    return " ".join(part for part in (lead.first_name, lead.last_name) if part) or lead.email


def lead_ref_value(lead: Lead) -> str:
    """What a button or modal carries: the lead and the version the person saw."""
    return f"{lead.id}:{lead.version}"


def actor_name(actor: str) -> str:
    """A timeline actor as people read it: `rep:Ann Lee` → `Ann Lee`, `cli:root` → `root (CLI)`."""
    kind, _, who = actor.partition(":")
    if not who:
        return "leadbot" if actor == "system" else actor
    if kind == "cli":
        return f"{who} (CLI)"
    return who


def when(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%b %d %H:%M UTC")


def field(label: str, value: str) -> dict[str, Any]:
    """A card field: our bold label over the escaped value (a dash when empty)."""
    return mrkdwn_text(f"*{label}*\n{escape(value) if value else '—'}", FIELD_TEXT_MAX)


def score_text(lead: Lead) -> str:
    score = f"{lead.score:g}" if lead.score else ""
    grade = lead.grade or ""
    return " · ".join(part for part in (score, grade) if part)


def compact_line(lead: Lead) -> str:
    """One line per lead in lists: `*L-12* Jane Doe · Acme · new`."""
    parts = [escape(lead_name(lead))]
    if lead.company:
        parts.append(escape(lead.company))
    parts.append(lead.status)
    if lead.grade:
        parts.append(f"grade {escape(lead.grade)}")
    return f"*{lead_label(lead.id)}* " + " · ".join(parts)


# ---- the lead card -------------------------------------------------------------------------


def lead_card(
    lead: Lead, timeline: Sequence[TimelineEntry], owner_name: str | None, links: PublicLinks
) -> list[Block]:
    """The card a rep works a lead from: who, the enquiry, what happened last, what to do."""
    if lead.erased_at is not None:
        return erased_card(lead)
    blocks = [card_header(lead), card_fields(lead, owner_name)]
    if lead.enquiry.strip():
        blocks.append(enquiry_quote(lead.enquiry))
    if timeline:
        blocks.append(timeline_context(timeline))
    closed = closed_context(lead, timeline)
    if closed is not None:
        blocks.append(closed)
    duplicate = duplicate_context(lead, timeline)
    if duplicate is not None:
        blocks.append(duplicate)
    if lead.merged_into_id is None:
        blocks.append(card_actions(lead, links))
    return blocks


ERASED_TEXT = "erased on request"


def erased_card(lead: Lead) -> list[Block]:
    """What a card about an erased person becomes: the lead's number, its state, nothing else
    (no buttons: there is nothing left to act on)."""
    return [section(f"*{lead_label(lead.id)}*: {ERASED_TEXT}"),
            context(f"status {escape(lead.status)} · stage {escape(lead.stage)}")]  # fmt: skip


def erased_card_text(lead: Lead) -> str:
    return f"{lead_label(lead.id)}: {ERASED_TEXT}"


def card_header(lead: Lead) -> Block:
    title = f"{lead_label(lead.id)} {lead_name(lead)}"
    if lead.company:
        title += f" · {lead.company}"
    return header(plain(title))


def card_fields(lead: Lead, owner_name: str | None) -> Block:
    fields = [
        field("Email", lead.email),
        field("Company", lead.company),
        field("Title", lead.title),
        field("Source", lead.source),
        field("Status", lead.status),
        field("Stage", lead.stage),
    ]
    score = score_text(lead)
    if score:
        fields.append(field("Score · grade", score))
    fields.append(
        field("Owner", owner_name) if owner_name else mrkdwn_text("*Owner*\n_unassigned_")
    )
    return {"type": "section", "fields": fields}


def enquiry_quote(enquiry: str) -> Block:
    """The enquiry, trimmed to about ENQUIRY_MAX characters, as a block quote."""
    text = "\n".join(line.strip() for line in enquiry.strip().splitlines() if line.strip())
    if len(text) > ENQUIRY_MAX:
        text = text[: ENQUIRY_MAX - 1].rsplit(None, 1)[0].rstrip() + "…"
    return section("\n".join(f">{escape(line)}" for line in text.splitlines()))


def timeline_context(timeline: Sequence[TimelineEntry]) -> Block:
    """The last few events, oldest first, one context element each."""
    return context(
        *(
            f"{when(entry.at)} · {escape(actor_name(entry.actor))} · {escape(entry.summary)}"
            for entry in list(timeline)[-TIMELINE_SHOWN:]
        )
    )


def closed_context(lead: Lead, timeline: Sequence[TimelineEntry]) -> Block | None:
    """For a converted or trashed lead: who closed it, or why."""
    if lead.status == "converted":
        entry = _last_of_kind(timeline, "status.convert")
        who = f" by {escape(actor_name(entry.actor))}" if entry else ""
        return context(f":white_check_mark: converted{who}")
    if lead.status == "trashed":
        reason = TRASH_REASONS.get(lead.trash_reason or "", lead.trash_reason or "no reason")
        entry = _last_of_kind(timeline, "status.trash")
        comment = (entry.data or {}).get("comment") if entry else None
        text = f":wastebasket: trashed: {escape(reason)}"
        if comment:
            text += f" ({escape(str(comment))})"
        return context(text)
    return None


DUPLICATE_DECIDED = frozenset({"duplicate.dismissed", "merged", "merged_into", "unmerged"})


def duplicate_context(lead: Lead, timeline: Sequence[TimelineEntry]) -> Block | None:
    """A merged-away lead says where it went (and how to undo); a flagged one, which lead it
    may duplicate and the two commands that decide."""
    label = lead_label(lead.id)
    if lead.merged_into_id is not None:
        survivor = lead_label(lead.merged_into_id)
        return context(
            f":twisted_rightwards_arrows: merged into {survivor} · undo: `/lead unmerge {label}`"
        )
    for entry in reversed(timeline):
        if entry.kind in DUPLICATE_DECIDED:
            return None
        if entry.kind == "duplicate.flagged":
            other = escape(str((entry.data or {}).get("other", "")))
            # the fields that weigh most in the match ("name +14.2, street +9.8"), when known
            weights = str((entry.data or {}).get("weights") or "")
            why = f" ({escape(weights)})" if weights else ""
            return context(
                f":warning: {escape(entry.summary)}{why} · `/lead merge {label} {other}` or "
                f"`/lead notdup {label} {other}` · `/lead why-duplicate {label} {other}`"
            )
    return None


def _last_of_kind(timeline: Sequence[TimelineEntry], kind: str) -> TimelineEntry | None:
    return next((entry for entry in reversed(timeline) if entry.kind == kind), None)


def card_actions(lead: Lead, links: PublicLinks) -> Block:
    """A button per move the lifecycle allows from here, then the link to the full page."""
    allowed = set(allowed_verbs(lead.status))
    value = lead_ref_value(lead)
    elements = [
        button(label, f"lead_{verb}", value, style=style)
        for verb, (label, style) in CARD_BUTTONS.items()
        if verb in allowed
    ]
    elements.append(
        button("Open in full", OPEN_ACTION_ID, value, url=links.lead_page(lead.id or 0))
    )
    return {"type": "actions", "block_id": f"lead_actions:{lead.id}", "elements": elements}


def lead_card_text(lead: Lead) -> str:
    """The card's fallback text (notifications, screen readers), escaped like the card."""
    if lead.erased_at is not None:
        return erased_card_text(lead)
    who = escape(lead_name(lead))
    if lead.company:
        who += f" ({escape(lead.company)})"
    return truncate(f"{lead_label(lead.id)} {who}: {lead.status}", SECTION_TEXT_MAX)


# ---- the trash modal -----------------------------------------------------------------------


def trash_modal(lead: Lead) -> Block:
    """Asks for the reason (and an optional comment) before trashing a lead."""
    who = escape(lead_name(lead))
    if lead.company:
        who += f" · {escape(lead.company)}"
    return modal(
        TRASH_CALLBACK_ID,
        "Trash lead",
        "Trash",
        lead_ref_value(lead),
        [
            section(f"Trash *{lead_label(lead.id)}* {who}?"),
            input_block(
                "reason",
                "Reason",
                {
                    "type": "static_select",
                    "action_id": "reason",
                    "placeholder": plain_text("Pick a reason"),
                    "options": [option(label, value) for value, label in TRASH_REASONS.items()],
                },
            ),
            input_block(
                "comment",
                "Comment",
                {
                    "type": "plain_text_input",
                    "action_id": "comment",
                    "multiline": True,
                    "max_length": COMMENT_MAX,
                },
                optional=True,
            ),
        ],
    )


def read_trash_submission(values: Mapping[str, Any]) -> tuple[str, str]:
    """(reason, comment) from a trash modal's `view.state.values`; "" where nothing was given."""
    selected = _state(values, "reason").get("selected_option") or {}
    comment = _state(values, "comment").get("value") or ""
    return str(selected.get("value") or ""), comment.strip()


# ---- the convert modal ---------------------------------------------------------------------


def convert_modal(proposal: Mapping[str, Any]) -> Block:
    """The conversion's account, opportunity, amount, close date and stage, prefilled."""
    stage = proposal.get("stage") or OPPORTUNITY_STAGES[0]
    stage_options = [option(name.capitalize(), name) for name in OPPORTUNITY_STAGES]
    amount = proposal.get("amount")
    amount_element: Block = {
        "type": "number_input",
        "action_id": "amount",
        "is_decimal_allowed": True,
        "min_value": "0",
    }
    if amount is not None:
        amount_element["initial_value"] = f"{float(amount):g}"
    return modal(
        CONVERT_CALLBACK_ID,
        "Convert lead",
        "Convert",
        f"{proposal['lead_id']}:{proposal['version']}",
        [
            section(conversion_summary(proposal)),
            input_block(
                "account", "Account name", text_input("account", proposal.get("account_name"))
            ),
            input_block(
                "opportunity",
                "Opportunity name",
                text_input("opportunity", proposal.get("opportunity_name")),
            ),
            input_block("amount", "Amount", amount_element, optional=True),
            input_block(
                "close_date",
                "Close date",
                {
                    "type": "datepicker",
                    "action_id": "close_date",
                    "initial_date": str(proposal.get("close_date") or date.today().isoformat()),
                },
            ),
            input_block(
                "stage",
                "Stage",
                {
                    "type": "static_select",
                    "action_id": "stage",
                    "options": stage_options,
                    "initial_option": next(
                        (o for o in stage_options if o["value"] == stage), stage_options[0]
                    ),
                },
            ),
        ],
    )


def conversion_summary(proposal: Mapping[str, Any]) -> str:
    contact = escape(str(proposal.get("contact_name") or ""))
    email = escape(str(proposal.get("contact_email") or ""))
    lines = [f"Converting *{lead_label(proposal['lead_id'])}* {contact} ({email})"]
    account = escape(str(proposal.get("account_name") or ""))
    if proposal.get("account_id") is not None:
        lines.append(f"Existing account: {account} (A-{proposal['account_id']})")
    else:
        lines.append(f"A new account will be created: {account}")
    return "\n".join(lines)


def text_input(action_id: str, initial: str | None, max_length: int = NAME_INPUT_MAX) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": action_id, "max_length": max_length}
    if initial:
        # An input's value is edited, not rendered: it stays as it is, only cut to fit.
        element["initial_value"] = initial[:max_length]
    return element


def read_convert_submission(values: Mapping[str, Any]) -> dict[str, Any]:
    """The convert modal's `view.state.values` as a plan: account_name, opportunity_name,
    amount (float or None), close_date (ISO date or None) and stage. A bad amount raises
    ValueError with a message for the person."""
    amount_text = (_state(values, "amount").get("value") or "").strip()
    amount: float | None = None
    if amount_text:
        try:
            amount = float(amount_text.replace(",", ""))
        except ValueError as exc:
            raise ValueError(f"{amount_text!r} is not an amount") from exc
        if amount < 0 or amount != amount or amount in (float("inf"), float("-inf")):
            raise ValueError("the amount must be a positive number")
    selected_stage = _state(values, "stage").get("selected_option") or {}
    return {
        "account_name": (_state(values, "account").get("value") or "").strip(),
        "opportunity_name": (_state(values, "opportunity").get("value") or "").strip(),
        "amount": amount,
        "close_date": _state(values, "close_date").get("selected_date") or None,
        "stage": selected_stage.get("value") or OPPORTUNITY_STAGES[0],
    }


# ---- modal plumbing ------------------------------------------------------------------------


def modal(
    callback_id: str, title: str, submit: str, private_metadata: str, blocks: list[Block]
) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain_text(title, MODAL_TITLE_MAX),
        "submit": plain_text(submit, MODAL_TITLE_MAX),
        "close": plain_text("Cancel", MODAL_TITLE_MAX),
        "private_metadata": private_metadata[:PRIVATE_METADATA_MAX],
        "blocks": blocks,
    }


def input_block(block_id: str, label: str, element: Block, *, optional: bool = False) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain_text(label, 2000),
        "optional": optional,
        "element": element,
    }


def _state(values: Mapping[str, Any], block_id: str) -> dict[str, Any]:
    """The one element's state in a block of `view.state.values` ({} when missing)."""
    block = values.get(block_id)
    if not isinstance(block, Mapping):
        return {}
    state = next(iter(block.values()), None)
    return dict(state) if isinstance(state, Mapping) else {}


# ---- App Home and lists --------------------------------------------------------------------

HOME_LIST_MAX = 40


def home_tab(rep_name: str, leads: Sequence[Lead], queue: Sequence[Lead]) -> Block:
    """The rep's App Home: their open leads, oldest first, and what waits in the queue."""
    blocks: list[Block] = [header(plain(f"Leads for {rep_name}"))]
    blocks.append(section(f"*My open leads* ({len(leads)})"))
    mine = sorted(leads, key=lambda lead: (lead.created_at, lead.id or 0))
    blocks += lead_lines(mine, HOME_LIST_MAX, "You have no open leads.")
    blocks.append(divider())
    blocks.append(section(f"*Waiting in the queue* ({len(queue)})"))
    blocks += lead_lines(queue, HOME_LIST_MAX, "Nothing is waiting.", show_buttons=False)
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS_MAX]}


def lead_lines(
    leads: Sequence[Lead], limit: int, empty: str, *, show_buttons: bool = True
) -> list[Block]:
    """A compact line per lead (with a Show button), and how many more were left out."""
    if not leads:
        return [context(empty)]
    blocks = [
        section(compact_line(lead), button("Show", SHOW_ACTION_ID, lead_ref_value(lead)))
        if show_buttons
        else section(compact_line(lead))
        for lead in leads[:limit]
    ]
    if len(leads) > limit:
        blocks.append(context(f"… and {len(leads) - limit} more"))
    return blocks


def lead_list_blocks(message: str, leads: Iterable[Lead]) -> list[Block]:
    """An answer that lists leads (mine, queue, search): the message, then a line per lead."""
    lines = lead_lines(list(leads), MESSAGE_BLOCKS_MAX - 3, "No leads.")
    return [section(escape_controls(message)), *lines]


def message_blocks(text: str) -> list[Block]:
    """A short answer; our message may quote what someone typed, so it is escaped."""
    return [section(escape_controls(text))]


def usage_blocks(text: str) -> list[Block]:
    """A refusal or the usage, in monospace as the CLI prints it."""
    body = truncate(escape_controls(text), SECTION_TEXT_MAX - 6)
    return [
        section(f"```{body}```"),
        context("`/lead help` lists every verb"),
    ]
