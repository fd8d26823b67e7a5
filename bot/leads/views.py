"""Leads and messages as plain dicts: the `--json` shapes people's scripts rely on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.leads import fields, intake
from bot.leads.refs import lead_label
from storage.models import DuplicateFlag, InboundMessage, IntakeRecord, Lead, Rep, TimelineEntry

# The person's fields (declared in bot.leads.fields), then where the lead stands.
LEAD_FIELDS = (
    "email", *fields.NAMES, "source", "status", "stage", "score", "grade", "email_status",
    "trash_reason",
)  # fmt: skip


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def lead_dict(lead: Lead, owner: Rep | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": lead_label(lead.id)}
    data.update({name: getattr(lead, name) for name in LEAD_FIELDS})
    data["owner"] = owner.email if owner else None
    data["custom"] = dict(lead.custom or {})
    data["enquiry"] = lead.enquiry
    data["version"] = lead.version
    data["merged_into"] = lead_label(lead.merged_into_id) if lead.merged_into_id else None
    data["account"] = f"A-{lead.account_id}" if lead.account_id else None
    data["company_domain"] = lead.company_domain
    data["created_at"] = iso(lead.created_at)
    data["updated_at"] = iso(lead.updated_at)
    # Privacy: a tombstone (erased on request or by retention), a lead marked stale.
    data["erased_at"] = iso(lead.erased_at) if lead.erased_at else None
    data["stale_since"] = iso(lead.stale_since) if lead.stale_since else None
    return data


def timeline_dict(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "at": iso(entry.at),
        "actor": entry.actor,
        "kind": entry.kind,
        "summary": entry.summary,
        "data": dict(entry.data or {}),
        "inbound_message": entry.inbound_message_id,
    }


def inbound_dict(message: InboundMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "received_at": iso(message.received_at),
        "channel": message.channel,
        "state": message.state,
        "classification": message.classification,
        "reason": message.reason,
        "lead": lead_label(message.lead_id) if message.lead_id else None,
        "message_id": message.message_id,
        "from": message.from_address or message.mail_from,
        "mail_from": message.mail_from,
        "rcpt_to": list(message.rcpt_tos or []),
        "subject": message.subject,
        "size": message.size,
        "attempts": message.attempts,
        "duplicate_of": message.duplicate_of,
        "error": message.error,
        "processed_at": iso(message.processed_at),
    }


def rep_dict(rep: Rep) -> dict[str, Any]:
    return {
        "id": f"R-{rep.id}",
        "name": rep.name,
        "email": rep.email,
        "role": rep.role,
        "slack_user_id": rep.slack_user_id,
        "active": rep.active,
        "created_at": iso(rep.created_at),
        "capacity": rep.capacity,
        "paused": rep.paused,
        "timezone": rep.timezone,
        "working_hours": rep.working_hours,
        "working_days": rep.working_days,
        "out_of_office": list(rep.out_of_office or []),
        "skills": list(rep.skills or []),
        "languages": list(rep.languages or []),
        "territories": list(rep.territories or []),
        "weight": rep.weight,
    }


def flag_dict(flag: DuplicateFlag, lead_id: int) -> dict[str, Any]:
    """A duplicate flag as seen from one of its two leads."""
    other = flag.other_id if flag.lead_id == lead_id else flag.lead_id
    return {
        "lead": lead_label(lead_id),
        "other": lead_label(other),
        "score": flag.score,
        "percent": round(flag.score * 100),
        "state": flag.state,
        "found_by": flag.found_by,
        "reasons": list(flag.reasons or []),
    }


def hold_dict(record: IntakeRecord) -> dict[str, Any]:
    draft = record.draft or {}
    return {
        "id": intake.hold_label(record.id),
        "kind": "hold",
        "state": record.state,
        "at": iso(record.at),
        "channel": record.channel,
        "from": draft.get("email", ""),
        "title": (record.evidence or {}).get("title", ""),
        "reasons": [f"{r['check']}: {r['detail']}" for r in record.reasons],
        "checks": [r["check"] for r in record.reasons],
        "source_key": record.source_key,
        "draft": {
            "email": draft.get("email", ""),
            **draft.get("values", {}),
            "enquiry": draft.get("enquiry", ""),
        },
        "inbound_message": record.inbound_message_id,
        "lead": lead_label(record.lead_id) if record.lead_id else None,
        "decided_by": record.decided_by,
        "decided_at": iso(record.decided_at),
        "note": record.note,
    }


def message_dict(message: InboundMessage) -> dict[str, Any]:
    error = message.error or ""
    return {
        "id": intake.message_label(message.id),
        "kind": "message",
        "state": message.state,
        "at": iso(message.received_at),
        "channel": message.channel,
        "from": message.from_address or message.mail_from,
        "title": message.subject,
        "reasons": [error.splitlines()[0]] if error else [],
        "error": error,
        "inbound_message": message.id,
    }
