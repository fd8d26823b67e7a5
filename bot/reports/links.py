"""The dashboard's links: signed (itsdangerous, LEADBOT_SECRET_KEY) and revocable.

A link names a row of `report_links`; the token signs that row's id under a salt of its own,
so a lead-page token cannot open the dashboard, and the row says until when the link works and
whether someone revoked it. Checking a token reads that row: revoking works at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

import storage.reports
from storage.models import ReportLink

SALT = "reports-dashboard"
# Longest a link may be asked to live (`leadbot report link --days`).
MAX_DAYS = 365


class DashboardLinks:
    def __init__(self, public_url: str, secret_key: str) -> None:
        self.public_url = public_url.rstrip("/")
        self._tokens = URLSafeTimedSerializer(secret_key, salt=SALT)

    def issue(self, session: Session, days: float, actor: str, now: datetime) -> ReportLink:
        """A new link, working for `days` from `now`."""
        if not 0 < days <= MAX_DAYS:
            raise ValueError(f"a link lives more than 0 and at most {MAX_DAYS} days")
        return storage.reports.add_link(
            session,
            ReportLink(created_at=now, expires_at=now + timedelta(days=days), created_by=actor),
        )

    def token(self, link: ReportLink) -> str:
        return self._tokens.dumps(link.id)

    def url(self, link: ReportLink) -> str:
        return f"{self.public_url}/reports?t={self.token(link)}"

    def check(self, session: Session, token: str, now: datetime) -> ReportLink | None:
        """The link `token` opens, or None: tampered, revoked, expired or unknown."""
        try:
            link_id = self._tokens.loads(token, max_age=MAX_DAYS * 24 * 3600)
        except BadSignature:
            return None
        if not isinstance(link_id, int):
            return None
        link = storage.reports.link_by_id(session, link_id)
        if link is None or link.revoked_at is not None or link.expires_at <= now:
            return None
        return link
