"""The export bundle: everything held about one person, walked from the declaration of where
personal data lives (storage/personal_data.py), as one JSON-ready dict.

Every row of every place about the person's lead records is in it, whole (the kept columns
too, so the person sees what stays after an erase), with the raw mails as text. The Slack
cards posted about them are named by where they were posted ("channel:ts"): their text is the
lead's fields, which are in the bundle.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

import storage.personal_data
import storage.privacy
from bot.privacy.subject import Subject
from storage.models import utcnow

FORMAT = "leadbot-export/1"


def bundle(session: Session, subject: Subject) -> dict[str, Any]:
    places: dict[str, list[dict[str, Any]]] = {}
    for place in storage.personal_data.about_leads():
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for address in sorted(subject.addresses) or [""]:
            for row in storage.personal_data.rows_of(
                session, place, set(subject.lead_ids), address
            ):
                data = storage.personal_data.as_data(row)
                rows[tuple(sorted((k, repr(v)) for k, v in data.items()))] = data
        if rows:
            places.setdefault(place.name, []).extend(rows.values())
    return {
        "format": FORMAT,
        "exported_at": utcnow().isoformat(),
        "query": subject.query,
        "addresses": sorted(subject.addresses),
        "leads": subject.labels,
        "slack_cards": storage.privacy.card_refs(session, set(subject.lead_ids)),
        "places": places,
    }
