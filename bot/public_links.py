"""Signed public links: every URL leadbot hands out carries a token that names what it opens.

A token is signed with LEADBOT_SECRET_KEY (itsdangerous), bound to one purpose and one object
(salt + payload), and expires; a tampered, expired or re-targeted link is refused.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

LEAD_PAGE_SALT = "lead-page"
# How long an "Open in full" link from a Slack card keeps working.
LEAD_PAGE_MAX_AGE = 30 * 24 * 3600


class PublicLinks:
    def __init__(self, public_url: str, secret_key: str) -> None:
        self.public_url = public_url.rstrip("/")
        self._lead_pages = URLSafeTimedSerializer(secret_key, salt=LEAD_PAGE_SALT)

    def lead_page(self, lead_id: int) -> str:
        token = self._lead_pages.dumps(lead_id)
        return f"{self.public_url}/leads/{lead_id}?t={token}"

    def lead_page_allows(self, token: str, lead_id: int) -> bool:
        """Whether `token` was made for this lead's page and has not expired."""
        try:
            signed_for = self._lead_pages.loads(token, max_age=LEAD_PAGE_MAX_AGE)
        except BadSignature:  # also SignatureExpired
            return False
        return signed_for == lead_id
