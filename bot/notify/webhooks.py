"""Webhooks: endpoints, Standard Webhooks signatures, and the sender that drains the deliveries.

Deliveries are written by storage.timeline.append in the transaction of the change they report
(storage/webhooks.py). The sender leases the due ones (at most one per endpoint and lead, so a
lead's events arrive in order), posts each with `webhook-id`, `webhook-timestamp` and
`webhook-signature` (HMAC-SHA256 over id.timestamp.body, by the `standardwebhooks` package),
and records the answer. A failed try is retried with exponential backoff for the whole retry
window (72 h by default), then kept as failed for `webhook replay`; a receiver that keeps
failing is reported in the log, in `webhook list` and to the admins in Slack, and never
switched off.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlmodel import Session
from standardwebhooks import Webhook

import storage.outbox
import storage.reps
import storage.webhooks
from storage.api_tables import WebhookDelivery, WebhookEndpoint
from storage.engine import Store
from storage.models import utcnow
from storage.webhooks import EVENTS

log = logging.getLogger("leadbot.webhooks")

SECRET_PREFIX = "whsec_"
# How long a claimed delivery is the sender's; one that died leaves it to the next claim.
LEASE = timedelta(minutes=2)
# Receivers posted to at once (different leads or endpoints; one lead's events go one by one).
PARALLEL = 8


class WebhookError(ValueError):
    """A bad endpoint, event name or secret; the message says what is allowed."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def check_secret(secret: str) -> str:
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookError("a secret is whsec_ followed by base64 (Standard Webhooks)")
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        raise WebhookError("a secret is whsec_ followed by base64 (Standard Webhooks)") from None
    if len(raw) < 16:
        raise WebhookError("a secret needs at least 16 random bytes (24 is the default)")
    return secret


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"{url!r} is not an http(s) URL")
    return url


def check_events(events: Sequence[str]) -> list[str]:
    chosen = [e.strip() for e in events if e.strip()]
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise WebhookError(
            f"unknown events {', '.join(unknown) or '(none given)'}; events: {', '.join(EVENTS)}"
        )
    return list(dict.fromkeys(chosen))


def signature_header(endpoint: WebhookEndpoint, message_id: str, at: datetime, body: str) -> str:
    """`v1,<sig>`, and during a rotation's grace period the old secret's too, space-separated:
    a receiver still holding the old secret verifies, and so does one with the new."""
    signatures = [Webhook(endpoint.secret).sign(message_id, at, body)]
    if (
        endpoint.previous_secret
        and endpoint.previous_valid_until is not None
        and endpoint.previous_valid_until > at
    ):
        signatures.append(Webhook(endpoint.previous_secret).sign(message_id, at, body))
    return " ".join(signatures)


def add_endpoint(
    session: Session, url: str, events: Sequence[str], secret: str | None = None
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        url=check_url(url),
        events=check_events(events),
        secret=check_secret(secret) if secret else new_secret(),
    )
    return storage.webhooks.add_endpoint(session, endpoint)


def find_endpoint(session: Session, ref: str) -> WebhookEndpoint:
    """`W-3` or `3`."""
    text = ref.strip().upper().removeprefix("W-")
    endpoint = storage.webhooks.endpoint_by_id(session, int(text)) if text.isdigit() else None
    if endpoint is None or endpoint.removed_at is not None:
        raise WebhookError(f"no webhook {ref} (see leadbot webhook list)")
    return endpoint


def rotate_secret(
    endpoint: WebhookEndpoint, grace: timedelta, secret: str | None = None
) -> WebhookEndpoint:
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_valid_until = now + grace
    endpoint.secret = check_secret(secret) if secret else new_secret()
    return endpoint


def replay(session: Session, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, with its webhook-id (a receiver that has it drops the repeat)."""
    delivery = storage.webhooks.delivery_by_id(session, delivery_id)
    if delivery is None:
        raise WebhookError(f"no delivery {delivery_id} (see leadbot webhook deliveries)")
    delivery.state = "pending"
    delivery.next_attempt_at = utcnow()
    delivery.locked_until = None
    session.add(delivery)
    return delivery


def endpoint_label(endpoint_id: int | None) -> str:
    return f"W-{endpoint_id}"


@dataclass(frozen=True)
class Retry:
    """How failed tries are retried: base · 2^(tries-1), at most `cap`, for `window`."""

    base_seconds: float = 5.0
    cap_seconds: float = 3600.0
    window: timedelta = timedelta(hours=72)

    def delay(self, attempts: int) -> float:
        return min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))


@dataclass
class Outcome:
    delivery_id: int
    endpoint_id: int
    status: int | None
    error: str | None
    at: datetime

    @property
    def ok(self) -> bool:
        return self.error is None


class WebhookSender:
    """Drains due deliveries; `send_due` is one round (serve repeats it)."""

    def __init__(
        self,
        store: Store,
        *,
        retry: Retry | None = None,
        timeout: float = 10.0,
        report_after: int = 5,
        on_failing: Callable[[WebhookEndpoint], None] | None = None,
    ) -> None:
        self.store = store
        self.retry = retry or Retry()
        self.report_after = max(1, report_after)
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self.pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="webhook")
        self.on_failing = on_failing

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()

    def send_due(self, limit: int = 50) -> int:
        """Post what is due now; how many deliveries were tried."""
        now = utcnow()
        with self.store.reading() as session:  # idle: no write lock (SQLite has one writer)
            if not storage.webhooks.any_due(session, now):
                return 0
        with self.store.transaction() as session:
            claimed = storage.webhooks.claim_due(session, now, LEASE, limit)
            jobs = [(d.id, d.message_id, d.body, e) for d, e in claimed]
        if not jobs:
            return 0
        outcomes = list(self.pool.map(lambda job: self._post(*job), jobs))
        with self.store.transaction() as session:
            for outcome in outcomes:
                self._record(session, outcome)
        return len(jobs)

    def _post(
        self, delivery_id: int, message_id: str, body: str, endpoint: WebhookEndpoint
    ) -> Outcome:
        assert endpoint.id is not None
        at = utcnow()
        headers = {
            "content-type": "application/json",
            "user-agent": "leadbot-webhooks",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature_header(endpoint, message_id, at, body),
        }
        try:
            response = self.client.post(endpoint.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(delivery_id, endpoint.id, None, f"{type(exc).__name__}: {exc}", at)
        if 200 <= response.status_code < 300:
            return Outcome(delivery_id, endpoint.id, response.status_code, None, at)
        return Outcome(
            delivery_id, endpoint.id, response.status_code, f"HTTP {response.status_code}", at
        )

    def _record(self, session: Session, outcome: Outcome) -> None:
        delivery = storage.webhooks.delivery_by_id(session, outcome.delivery_id)
        endpoint = storage.webhooks.endpoint_by_id(session, outcome.endpoint_id)
        assert delivery is not None and endpoint is not None
        delivery.attempts += 1
        delivery.last_status = outcome.status
        delivery.locked_until = None
        if outcome.ok:
            delivery.state, delivery.delivered_at, delivery.last_error = (
                "delivered",
                outcome.at,
                None,
            )
            if endpoint.reported_at is not None:
                log.info("webhook %s (%s) recovered", endpoint_label(endpoint.id), endpoint.url)
            endpoint.failing_since, endpoint.reported_at = None, None
            endpoint.consecutive_failures, endpoint.last_success_at = 0, outcome.at
        else:
            delivery.last_error = outcome.error
            if outcome.at - delivery.created_at >= self.retry.window:
                delivery.state = "failed"
                log.error("webhook delivery %s to %s failed for %s; kept as failed "
                          "(leadbot webhook replay %s)", delivery.id, endpoint.url,
                          self.retry.window, delivery.id)  # fmt: skip
            else:
                wait = self.retry.delay(delivery.attempts)
                delivery.next_attempt_at = outcome.at + timedelta(seconds=wait)
            endpoint.consecutive_failures += 1
            endpoint.failing_since = endpoint.failing_since or outcome.at
            endpoint.last_error = outcome.error
            if endpoint.reported_at is None and endpoint.consecutive_failures >= self.report_after:
                endpoint.reported_at = outcome.at
                report_failing(session, endpoint)
                if self.on_failing is not None:
                    self.on_failing(endpoint)
        session.add(delivery)
        session.add(endpoint)


def report_failing(session: Session, endpoint: WebhookEndpoint) -> None:
    """Tell the log and every admin (a Slack DM through the outbox): the receiver is failing,
    its deliveries wait and are retried; it is not switched off."""
    text = (
        f"Webhook {endpoint_label(endpoint.id)} ({endpoint.url}) is failing: "
        f"{endpoint.consecutive_failures} failed tries in a row since "
        f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC, last: {endpoint.last_error}. "
        "Its deliveries are kept and retried; see `leadbot webhook deliveries --failed`."
    )
    log.warning("%s", text)
    for rep in storage.reps.listing(session):
        if rep.role == "admin" and rep.active:
            storage.outbox.put(
                session, "webhook.failing", rep_id=rep.id, payload={"text": text, "subject": text}
            )


def run_rounds(sender: WebhookSender, stop: Callable[[], bool], idle: float) -> None:
    """Blocking loop for scripts (bench): send until `stop()`, idling when nothing is due."""
    while not stop():
        if not sender.send_due():
            time.sleep(idle)
