"""Taking an import back: `leadbot import revert I-3`.

From the journal (storage/import_tables.py), in one transaction:

- the intake records of its captures go (passed ones, and holds nobody decided on yet);
- a lead it created that nobody touched since (its version is the one the import left) is
  deleted with every row hanging off it (storage.lead_rows), as if the file had never been read;
  one somebody changed since stays, and the report names it;
- a lead that existed before has the rows the import wrote onto it deleted (its timeline
  entries, a queue item) and, when nobody changed it since, its row restored exactly as it was;
  when somebody did, each field the import changed goes back unless it changed again since
  (those are named, and keep their newer value);
- the merges it made go with the leads it created (a lead merged into a stored one was created by
  the import: its merge record is deleted and the survivor restored as above).

EspoCRM's revert skips records updated since; this one restores what it can and says the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

import storage.duplicates
import storage.imports
from bot.dedupe.index import index
from bot.imports.run import import_label
from bot.leads import fields
from bot.leads.refs import lead_label
from storage.engine import Store
from storage.models import Lead, utcnow

PAGE = 1000
# Columns a person may have changed since; the rest (versions, times) are restored exactly only.
FIELD_COLUMNS = (*fields.NAMES, "custom", "email_status", "status", "stage", "score", "grade")


class NotRevertible(LookupError):
    """No such import, or it was reverted already; the message says which."""


@dataclass
class Reverted:
    id: str
    deleted: int = 0
    restored: int = 0
    kept_leads: list[str] = field(default_factory=list)
    kept_fields: list[dict[str, Any]] = field(default_factory=list)
    intake_records: int = 0

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deleted": self.deleted,
            "restored": self.restored,
            "kept_leads": self.kept_leads,
            "kept_fields": self.kept_fields,
            "intake_records": self.intake_records,
        }


def revert(store: Store, run_id: int, actor: str) -> Reverted:
    label = import_label(run_id)
    report = Reverted(label)
    with store.transaction() as session:
        run = storage.imports.run_by_id(session, run_id, for_update=True)
        if run is None:
            raise NotRevertible(f"no import {label}")
        if run.state == "reverted":
            raise NotRevertible(f"{label} was reverted already, by {run.reverted_by}")
        report.intake_records = storage.imports.delete_intake(session, f"import:{label}")
        to_delete: list[int] = []
        restores: list[tuple[Lead, dict[str, Any]]] = []
        last = 0
        while True:
            page = storage.imports.journal_page(session, run_id, last, PAGE)
            if not page:
                break
            last = page[-1].id or 0
            leads = {lead.id: lead for lead in _leads(session, [e.lead_id for e in page])}
            for entry in page:
                lead = leads.get(entry.lead_id)
                if lead is None:
                    continue
                untouched = lead.version == entry.version
                if entry.created:
                    if untouched:
                        to_delete.append(entry.lead_id)
                    else:
                        report.kept_leads.append(lead_label(entry.lead_id))
                    continue
                storage.imports.delete_rows(session, entry.written or {})
                if entry.before is None:
                    continue
                if untouched:
                    restores.append((lead, entry.before))
                    continue
                back: dict[str, Any] = {}
                for name, value in (entry.after or {}).items():
                    if name not in FIELD_COLUMNS:
                        continue
                    if storage.imports.snapshot(lead).get(name) == value:
                        back[name] = entry.before.get(name)
                    else:
                        report.kept_fields.append(
                            {"lead": lead_label(entry.lead_id), "field": name}
                        )
                restores.append((lead, back))
        storage.imports.delete_leads(session, to_delete)
        report.deleted = len(to_delete)
        for lead, values in restores:
            storage.imports.restore(session, lead, values)
            if any(name in fields.MATCHED for name in values):
                index(session, lead)
                storage.imports.restore(session, lead, values)  # index touched company keys
            report.restored += 1
        run.state, run.reverted_at, run.reverted_by = "reverted", utcnow(), actor
        run.revert_report = report.as_data()
        storage.imports.save_run(session, run)
    return report


def _leads(session: Session, lead_ids: list[int]) -> list[Lead]:
    return list(storage.duplicates.leads_by_ids(session, lead_ids))
