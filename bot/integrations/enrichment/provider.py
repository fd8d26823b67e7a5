"""The enrichment provider: an HTTP service asked, after capture, what no mail says (company
size, industry), its answer merged into the lead's empty fields and cached per domain.

Capture never waits for it: `serve` runs `EnrichmentRunner.tick` as a loop of its own, which
follows the leads table with a cursor (the `cursors` row "enrichment"), asks the provider once
per company domain (`POST LEADBOT_ENRICH_URL` with `{"domain", "lead": {email, fields…}}`,
answered by a JSON object of lead fields), and merges the answer into each lead of that domain
whose field is empty: a stated value always wins. A slow or failing provider costs the loop
its timeout and nothing else: the failure is cached too, and that domain is asked again after
`RETRY_FAILED`. Leads without a company domain (free-mail) are not sent.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import storage.assignment
import storage.enrichment
import storage.timeline
from bot.leads import fields
from storage.engine import Store
from storage.models import EnrichmentAnswer, Lead, utcnow

log = logging.getLogger(__name__)

CURSOR = "enrichment"
# A failed domain is asked again after this long.
RETRY_FAILED = timedelta(hours=1)
# The largest answer read from the provider.
MAX_ANSWER_BYTES = 64 * 1024
BATCH = 50

Fetch = Callable[[str, dict[str, Any]], dict[str, Any]]


def http_fetch(url: str, timeout: float) -> Fetch:
    """POST the request as JSON to `url`; the answer's JSON object (an error otherwise)."""

    def fetch(domain: str, lead: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"domain": domain, "lead": lead}).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(MAX_ANSWER_BYTES + 1)
        if len(data) > MAX_ANSWER_BYTES:
            raise ValueError(f"answer over {MAX_ANSWER_BYTES} bytes")
        answer = json.loads(data)
        if not isinstance(answer, dict):
            raise ValueError("answer is not a JSON object")
        return answer

    return fetch


def merge_answer(lead: Lead, answer: dict[str, Any], source: str) -> list[str]:
    """Put the answer's values into the lead's empty fields (only lead fields, only text that
    fits the field); the reasons, one per value."""
    reasons: list[str] = []
    for name, value in answer.items():
        if name not in fields.NAMES or value is None or isinstance(value, (dict, list)):
            continue
        text = str(value).strip()
        if not text or getattr(lead, name) or len(text) > fields.BY_NAME[name].max_chars:
            continue
        setattr(lead, name, text)
        reasons.append(f"{name.replace('_', ' ')} {text}: the enrichment provider ({source})")
    return reasons


def request_of(lead: Lead) -> dict[str, Any]:
    """What the provider is told of a lead: its address and fields."""
    return {"email": lead.email, **{name: getattr(lead, name) for name in fields.NAMES}}


class EnrichmentRunner:
    """Asks the provider about the leads captured since it last looked."""

    def __init__(self, store: Store, fetch: Fetch, source: str) -> None:
        self.store = store
        self.fetch = fetch
        self.source = source

    def tick(self) -> int:
        """Enrich the next batch of new leads; returns how many leads it looked at."""
        with self.store.reading() as session:
            after = storage.assignment.cursor_position(session, CURSOR)
            leads = storage.enrichment.leads_after(session, after, BATCH)
            if not leads:
                return 0
            last = leads[-1].id or 0
            # what to send per domain: its first new lead, read while the session is open
            first: dict[str, dict[str, Any]] = {}
            for lead in leads:
                if lead.company_domain and lead.company_domain not in first:
                    first[lead.company_domain] = request_of(lead)
            cached = {d: storage.enrichment.answer_for(session, d) for d in first}
        now = utcnow()
        fresh: list[EnrichmentAnswer] = []
        for domain in sorted(first):  # outside any transaction: the store waits for no one
            known = cached[domain]
            if known is not None and (known.ok or now - known.fetched_at < RETRY_FAILED):
                continue
            asked = self._ask(domain, first[domain])
            cached[domain] = asked
            fresh.append(asked)
        with self.store.transaction() as session:
            cursor = storage.assignment.cursor_for_update(session, CURSOR)
            for asked in fresh:
                storage.enrichment.keep_answer(session, asked)
            for lead in storage.enrichment.leads_after(session, cursor.position, BATCH):
                if lead.id is None or lead.id > last:
                    break
                answer = cached.get(lead.company_domain)
                if answer is None or not answer.ok:
                    continue
                reasons = merge_answer(lead, answer.answer, self.source)
                if reasons:
                    session.add(lead)
                    names = ", ".join(reason.split(":")[0] for reason in reasons)
                    storage.timeline.append(
                        session,
                        lead.id,
                        actor="enrichment",
                        kind="lead.enriched",
                        summary=f"enriched by the provider: {names}",
                        data={"enriched": reasons, "domain": lead.company_domain},
                    )
            cursor.position = max(cursor.position, last)
            session.add(cursor)
        return len(leads)

    def _ask(self, domain: str, request: dict[str, Any]) -> EnrichmentAnswer:
        try:
            answer = self.fetch(domain, request)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            log.warning("enrichment provider failed for %s: %s", domain, exc)
            return EnrichmentAnswer(domain=domain, ok=False, error=str(exc)[:500])
        return EnrichmentAnswer(domain=domain, ok=True, answer=answer)
