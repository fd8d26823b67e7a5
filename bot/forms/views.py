"""Submissions and a lead's attribution as plain dicts: the `--json` shapes scripts rely on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.leads.intake import submission_label
from bot.leads.refs import lead_label
from bot.leads.views import iso
from storage.models import FormSubmission


def submission_dict(submission: FormSubmission) -> dict[str, Any]:
    return {
        "id": submission.id,
        "received_at": iso(submission.received_at),
        "state": submission.state,
        "address": submission.address,
        "lead": lead_label(submission.lead_id) if submission.lead_id else None,
        "hold": f"H-{submission.intake_record_id}" if submission.intake_record_id else None,
        "reasons": list(submission.reasons),
        "attribution": dict(submission.attribution),
        "consent": dict(submission.consent) or None,
        "client_ip": submission.client_ip,
        "duplicate_of": submission.duplicate_of,
        "error": submission.error,
        "processed_at": iso(submission.processed_at),
    }


def attribution(timeline: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """First and last touch of a lead, from its form posts on the timeline (a merge moves
    them, an approved hold has one too): `{first_touch, last_touch, touches}`, each touch
    `{at, form, page, referrer, utm_source, …}`."""
    touches = []
    for entry in timeline:
        data = entry.get("data") or {}
        if entry.get("kind") != "form.post" or "attribution" not in data:
            continue
        touches.append({"at": entry.get("at"), "form": data.get("form"), **data["attribution"]})
    return {
        "first_touch": touches[0] if touches else None,
        "last_touch": touches[-1] if touches else None,
        "touches": len(touches),
    }


def quarantined_dict(submission: FormSubmission, form_name: str) -> dict[str, Any]:
    """A submission whose processing failed, as `leadbot intake quarantined` lists it beside
    held captures and unreadable mail (the same keys as a mail's, plus the form)."""
    error = submission.error or ""
    return {
        "id": submission_label(submission.id),
        "kind": "submission",
        "state": submission.state,
        "at": iso(submission.received_at),
        "channel": "form",
        "from": submission.address,
        "title": form_name,
        "reasons": [error.splitlines()[0]] if error else [],
        "error": error,
        "submission": submission.id,
        "form": form_name,
        "lead": lead_label(submission.lead_id) if submission.lead_id else None,
    }
