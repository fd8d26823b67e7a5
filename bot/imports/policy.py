"""What an import may change beyond the person fields: consent, status and stage, never back.

The person fields follow capture's merge policy (fill the empty ones; `--overwrite` and `--keep`
name exceptions). These three are different: an import may tighten consent (a file that says
"unsubscribed" opts the address out) but never loosen it (an opted-out or bounced address stays
so, whatever the file says: listmonk#2008), and may move status and stage forward in the funnel
but never backwards (a qualified lead does not become new again). A new lead takes the file's
values as they are.
"""

from __future__ import annotations

from sqlmodel import Session

import storage.timeline
from bot.leads.lifecycle import Stage, Status
from storage.models import Lead

# Statuses an import may set; converting and trashing need more than a cell (an account, a
# reason) and go through the lifecycle.
STATUS_RANK = {Status.NEW: 0, Status.WORKING: 1, Status.NURTURING: 1, Status.QUALIFIED: 2}
STAGE_RANK = {stage.value: rank for rank, stage in enumerate(Stage)}
EMAIL_STATUSES = {
    "ok": "ok",
    "subscribed": "ok",
    "active": "ok",
    "opted_out": "opted_out",
    "optedout": "opted_out",
    "unsubscribed": "opted_out",
    "opted out": "opted_out",
    "blocklisted": "opted_out",
    "bounced": "bounced",
}
TRUE = {"1", "true", "yes", "y", "x", "ja", "oui", "si", "sí", "wahr", "t"}
FALSE = {"0", "false", "no", "n", "nein", "non", "f", ""}


def split_name(text: str) -> tuple[str, str]:
    """ "Ann Lee" -> ("Ann", "Lee"); "Lee, Ann" -> ("Ann", "Lee")."""
    text = " ".join(text.split())
    if "," in text:
        last, _, first = text.partition(",")
        return first.strip(), last.strip()
    first, _, last = text.rpartition(" ")
    return (first, last) if first else (text, "")


def split_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.replace(";", ",").split(",") if tag.strip()]


def _truth(text: str) -> bool | None:
    value = text.strip().casefold()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    return None


def wanted_email_status(extras: dict[str, str]) -> str | None:
    """The email status the row asks for (from email_status, opted_out or consent), or None."""
    if "email_status" in extras:
        return EMAIL_STATUSES.get(extras["email_status"].strip().casefold())
    if "opted_out" in extras and _truth(extras["opted_out"]):
        return "opted_out"
    if "consent" in extras:
        consent = _truth(extras["consent"])
        return None if consent is None else ("ok" if consent else "opted_out")
    return None


def check_extras(extras: dict[str, str]) -> str:
    """Why the row's status, stage or consent cells cannot be taken ("" when they can)."""
    status = extras.get("status", "").strip().casefold()
    if status and status not in STATUS_RANK:
        return (
            f"status {extras['status']!r}: an import sets {', '.join(STATUS_RANK)} "
            "(convert and trash go through the lifecycle)"
        )
    stage = extras.get("stage", "").strip().casefold()
    if stage and stage not in STAGE_RANK:
        return f"stage {extras['stage']!r}: one of {', '.join(STAGE_RANK)}"
    if "email_status" in extras and wanted_email_status(extras) is None:
        return f"email status {extras['email_status']!r}: ok, opted_out or bounced"
    for name in ("opted_out", "consent"):
        if name in extras and _truth(extras[name]) is None:
            return f"{name} {extras[name]!r}: yes or no"
    return ""


def apply_extras(
    session: Session, lead: Lead, extras: dict[str, str], *, created: bool
) -> list[str]:
    """Take the row's consent, status and stage under the policy above; the fields changed."""
    assert lead.id is not None
    changed: list[str] = []
    notes: list[str] = []
    email_status = wanted_email_status(extras)
    tighter = created or lead.email_status == "ok"
    if email_status and email_status != lead.email_status and tighter:
        notes.append(f"email {lead.email_status} → {email_status}")
        lead.email_status = email_status
        changed.append("email_status")
    status = extras.get("status", "").strip().casefold()
    if (
        status
        and status != lead.status
        and lead.status in STATUS_RANK
        and (created or STATUS_RANK[Status(status)] > STATUS_RANK[Status(lead.status)])
    ):
        notes.append(f"status {lead.status} → {status}")
        lead.status = status
        changed.append("status")
    stage = extras.get("stage", "").strip().casefold()
    if (
        stage
        and stage != lead.stage
        and lead.stage in STAGE_RANK
        and (created or STAGE_RANK[stage] > STAGE_RANK[lead.stage])
    ):
        notes.append(f"stage {lead.stage} → {stage}")
        lead.stage = stage
        changed.append("stage")
    if changed:
        session.add(lead)
        if not created:
            storage.timeline.append(
                session,
                lead.id,
                actor="system",
                kind="import.changed",
                summary="; ".join(notes),
                data={"fields": changed},
            )
    return changed
