"""Named queries over IMAP read positions (UIDVALIDITY + last committed UID per folder)."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.models import ImapCursor, utcnow


def get(session: Session, mailbox: str) -> ImapCursor | None:
    return session.exec(select(ImapCursor).where(ImapCursor.mailbox == mailbox)).first()


def save(session: Session, mailbox: str, uidvalidity: int, last_uid: int) -> None:
    cursor = get(session, mailbox)
    if cursor is None:
        cursor = ImapCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid)
    else:
        cursor.uidvalidity = uidvalidity
        cursor.last_uid = last_uid
        cursor.updated_at = utcnow()
    session.add(cursor)
