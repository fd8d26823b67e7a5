"""The Slack notifier: an outbox item becomes a lead card in the rep's direct messages (or in the
leads channel when nobody is assigned), and a card can be redrawn in place later.

Retries belong to the outbox dispatcher, so the Web API client has no retry handlers of its own:
a 429 becomes `RetryLater(Retry-After)`, a 5xx or a connection error an exception the dispatcher
backs off from. A delivery returns `"{channel}:{ts}"`, which is what `update_card` takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import storage.reps
import storage.timeline
from bot.integrations.slack.blocks import (
    erased_card,
    erased_card_text,
    lead_card,
    lead_card_text,
)
from bot.integrations.slack.mrkdwn import escape
from bot.notify.dispatcher import RetryLater
from bot.public_links import PublicLinks
from storage.engine import Store
from storage.models import Lead, OutboxItem, Rep, TimelineEntry

log = logging.getLogger(__name__)

TimelineLookup = Callable[[int], Sequence[TimelineEntry]]
OwnerNameLookup = Callable[[int], str | None]

NO_RECIPIENT = "skipped:no-recipient"
# The outbox kind of an erasure (bot/privacy/erase.py): its cards are redrawn, none posted.
ERASED_KIND = "lead.erased"
NO_LEAD = "skipped:no-lead"
# The one summary of an import (bot/imports/run.py): posted to the leads channel.
IMPORT_DONE_KIND = "import.done"
IMPORT_COUNTS = ("rows", "new", "updated", "merged", "held", "bad")
DEFAULT_RETRY_AFTER = 1.0


class SlackDeliveryError(Exception):
    """Slack refused or failed a call; the dispatcher retries with backoff."""


class SlackNotifier:
    name = "slack"

    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        links: PublicLinks,
        timeline_for: TimelineLookup,
        owner_name_for: OwnerNameLookup | None = None,
        channel: str | None = None,
        timeout: int = 10,
        digest_channel: str | None = None,
    ) -> None:
        # retry_handlers=[]: slack_sdk would otherwise retry connection errors itself.
        self.client = WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])
        self.links = links
        self.timeline_for = timeline_for
        self.owner_name_for = owner_name_for
        self.channel = channel or None
        self._dm_channels: dict[str, str] = {}
        # Where the weekly reports digest goes (LEADBOT_SLACK_DIGEST_CHANNEL).
        self.digest_channel = digest_channel or None

    def deliver(self, item: OutboxItem, lead: Lead | None, rep: Rep | None) -> str:
        """Post the lead's card to the rep (or the leads channel); returns `channel:ts`."""
        if item.kind == "report.digest":
            return self.post_digest(str(item.payload.get("text", "")))
        if item.kind == IMPORT_DONE_KIND:
            return self.post_import_done(item.payload)
        if lead is None and item.payload.get("text") and rep is not None:
            return self.message(rep, str(item.payload["text"]))
        if lead is None or lead.id is None:
            log.info("outbox %s (%s) has no lead; nothing to post", item.id, item.kind)
            return NO_LEAD
        if item.kind == ERASED_KIND:
            return self.redraw_erased(item, lead)
        channel = self.recipient(rep)
        if channel is None:
            return NO_RECIPIENT
        blocks, text = self.card(lead, rep)
        if item.kind == "lead.hot" and item.payload.get("alert"):
            # A hot-lead alert: what the lead just did, above its card (and its buttons).
            alert = escape(str(item.payload["alert"]))
            blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f":fire: *{alert}*"}},
                      *blocks]  # fmt: skip
            text = str(item.payload["alert"])
        response = self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel, blocks=blocks, text=text, unfurl_links=False, unfurl_media=False
            ),
        )
        return f"{response['channel']}:{response['ts']}"

    def message(self, rep: Rep, text: str) -> str:
        """A plain message to one rep (a webhook receiver failing, for the admins), escaped."""
        channel = self.recipient(rep)
        if channel is None:
            return NO_RECIPIENT
        response = self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel, text=escape(text), unfurl_links=False, unfurl_media=False
            ),
        )
        return f"{response['channel']}:{response['ts']}"

    def post_digest(self, digest: str) -> str:
        """The weekly digest, as text, in the digest channel."""
        if self.digest_channel is None:
            return NO_RECIPIENT
        channel = self.digest_channel
        response = self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel, text=escape(digest), unfurl_links=False, unfurl_media=False
            ),
        )
        return f"{response['channel']}:{response['ts']}"

    def post_import_done(self, payload: dict[str, Any]) -> str:
        """An import's summary in the leads channel (LEADBOT_SLACK_CHANNEL, where leads nobody
        owns are posted): one message per import, not one per lead. The file name came from
        outside, so the summary is escaped; the counts are a field list under it."""
        if self.channel is None:
            return NO_RECIPIENT
        channel = self.channel
        summary = escape(str(payload.get("subject", "") or f"import {payload.get('import', '')}"))
        counts = payload.get("counts") or {}
        fields = [
            {"type": "mrkdwn", "text": f"*{name}*\n{int(counts.get(name, 0) or 0)}"}
            for name in IMPORT_COUNTS
        ]
        blocks = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f":inbox_tray: {summary}"}},
            {"type": "section", "fields": fields},
        ]
        response = self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel, blocks=blocks, text=summary, unfurl_links=False,
                unfurl_media=False,
            ),
        )  # fmt: skip
        return f"{response['channel']}:{response['ts']}"

    def redraw_erased(self, item: OutboxItem, lead: Lead) -> str:
        """Redraw every card posted about an erased lead as "erased on request" (chat.update).
        A card deleted in Slack meanwhile is skipped; any other failure retries the item, and
        redrawing a card twice does no harm."""
        blocks, text = erased_card(lead), erased_card_text(lead)
        cards = [str(ref) for ref in item.payload.get("cards", [])]
        for ref in cards:
            try:
                self.update_card(ref, blocks, text)
            except SlackDeliveryError as exc:
                if "message_not_found" not in str(exc) and "channel_not_found" not in str(exc):
                    raise
                log.info("card %s of %s is gone; nothing to redraw", ref, item.payload.get("lead"))
        return f"slack:redrawn {len(cards)}"

    def recipient(self, rep: Rep | None) -> str | None:
        """The rep's DM channel when they are on Slack, else the leads channel, else None."""
        if rep is not None and not rep.slack_user_id:
            self.link_by_email(rep)
        if rep is not None and rep.slack_user_id:
            return self.dm_channel(rep.slack_user_id)
        return self.channel

    def link_by_email(self, rep: Rep) -> None:
        """Find the rep's Slack user by email (users.lookupByEmail). The id is set on the rep the
        dispatcher loaded, so it is saved in the transaction that marks the notification sent."""
        try:
            response = self.client.users_lookupByEmail(email=rep.email)
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise RetryLater(_retry_after(exc.response.headers), "lookupByEmail") from exc
            if exc.response.get("error") == "users_not_found":
                log.info("no Slack user with the email of rep %s (%s)", rep.id, rep.email)
                return
            raise SlackDeliveryError(f"users.lookupByEmail: {exc.response.get('error')}") from exc
        rep.slack_user_id = response["user"]["id"]

    def dm_channel(self, user_id: str) -> str:
        if user_id not in self._dm_channels:
            response = self._call(
                "conversations.open", lambda: self.client.conversations_open(users=user_id)
            )
            self._dm_channels[user_id] = response["channel"]["id"]
        return self._dm_channels[user_id]

    def card(self, lead: Lead, rep: Rep | None) -> tuple[list[dict[str, Any]], str]:
        assert lead.id is not None
        timeline = list(self.timeline_for(lead.id))
        blocks = lead_card(lead, timeline, self.owner_name(lead, rep), self.links)
        return blocks, lead_card_text(lead)

    def owner_name(self, lead: Lead, rep: Rep | None) -> str | None:
        if lead.owner_id is None:
            return None
        if rep is not None and rep.id == lead.owner_id:
            return rep.name
        if self.owner_name_for is not None:
            return self.owner_name_for(lead.owner_id)
        return f"R-{lead.owner_id}"

    def update_card(self, ref: str, blocks: list[dict[str, Any]], text: str) -> None:
        """Redraw a card where it was posted (`ref` is what `deliver` returned)."""
        channel, _, ts = ref.partition(":")
        if not channel or not ts:
            raise ValueError(f"not a Slack message reference: {ref!r}")
        self._call(
            "chat.update",
            lambda: self.client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text),
        )

    def _call(self, method: str, request: Callable[[], Any]) -> Any:
        """Run one Web API call, turning Slack's answers into what the dispatcher understands."""
        try:
            return request()
        except SlackApiError as exc:
            response = exc.response
            error = response.get("error") if isinstance(response.data, dict) else None
            if response.status_code == 429:
                raise RetryLater(_retry_after(response.headers), f"{method}: rate limited") from exc
            raise SlackDeliveryError(
                f"{method}: HTTP {response.status_code} {error or 'error'}"
            ) from exc


def _retry_after(headers: dict[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER


def recent_timeline(store: Store, count: int = 3) -> TimelineLookup:
    """A `timeline_for` that reads the lead's last `count` entries in a read-only transaction
    (the dispatcher holds the write transaction while it delivers)."""

    def lookup(lead_id: int) -> list[TimelineEntry]:
        with store.reading() as session:
            entries = list(storage.timeline.for_lead(session, lead_id))[-count:]
            session.expunge_all()  # keep them loaded: the read-only session rolls back
            return entries

    return lookup


def owner_names(store: Store) -> OwnerNameLookup:
    """An `owner_name_for` that reads the rep's name in a read-only transaction."""

    def lookup(rep_id: int) -> str | None:
        with store.reading() as session:
            rep = storage.reps.by_id(session, rep_id)
            return rep.name if rep else None

    return lookup
