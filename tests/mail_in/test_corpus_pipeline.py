"""Every real-world mail in ../shared/corpora/mail goes through the real pipeline and store.

Each file gets a Message-ID of its own (the corpora reuse some; how a repeated Message-ID is
kept as a duplicate is tested in tests/storage), so every one is decoded, classified and applied.
"""

from __future__ import annotations

import re
from collections import Counter

import storage.inbox
import storage.leads
from bot.mail_in.inbox import InboundMailHandler, accept_raw
from storage.engine import Store
from tests.corpora import CORPORA, mail_files

MESSAGE_ID = re.compile(rb"^message-id:[^\r\n]*(\r?\n[ \t][^\r\n]*)*", re.IGNORECASE | re.MULTILINE)


def with_own_message_id(raw: bytes, n: int) -> bytes:
    header_end = raw.find(b"\n\n") if raw.find(b"\n\n") >= 0 else len(raw)
    head, body = raw[:header_end], raw[header_end:]
    head, found = MESSAGE_ID.subn(f"Message-ID: <corpus-{n}@leadbot.test>".encode(), head, count=1)
    return head + body if found else raw


def outcome(state: str, classification: str | None) -> str:
    return classification if state == "done" else state


def test_every_corpus_mail_ends_accounted_for(store: Store) -> None:
    files = mail_files("")
    for n, path in enumerate(files):
        accept_raw(store, with_own_message_id(path.read_bytes(), n), channel="file")
    InboundMailHandler(store, "leads@localhost").drain()

    with store.transaction() as session:
        rows = storage.inbox.listing(session, limit=len(files) + 1)
        leads = storage.leads.count(session)
    assert len(rows) == len(files)
    by_file = {
        str(path.relative_to(CORPORA / "mail")): outcome(row.state, row.classification)
        for path, row in zip(files, rows, strict=True)
    }
    assert set(by_file.values()) <= {"enquiry", "reply", "auto_reply", "bounce", "complaint",
                                     "quarantined"}  # fmt: skip

    def folder(prefix: str) -> Counter[str]:
        return Counter(v for k, v in by_file.items() if k.startswith(prefix))

    # sisimai's bounces are bounces, its RFC 3834 mails auto-replies, its ARF reports complaints;
    # the two mails mail-parser cannot parse are quarantined (corpora README), never dropped.
    bsd = {k: v for k, v in by_file.items() if k.startswith("sisimai/bsd/")}
    assert all(v == "auto_reply" for k, v in bsd.items() if "/rfc3834-" in k)
    assert all(v == "complaint" for k, v in bsd.items() if "/arf-" in k)
    assert [k for k, v in bsd.items() if v == "quarantined"] == [
        "sisimai/bsd/lhost-sendgrid-01.eml",
        "sisimai/bsd/lhost-sendgrid-02.eml",
    ]
    assert folder("sisimai/bsd/") == Counter(
        {"bounce": 600, "complaint": 18, "auto_reply": 9, "quarantined": 2}
    )
    assert folder("sisimai/err/") == Counter({"bounce": 37})
    assert folder("sisimai/not/") == Counter({"enquiry": 2, "auto_reply": 1})
    # Ordinary mail becomes leads; none of it is mistaken for a bounce or an auto-reply except
    # the delivery reports imap_tools and mail-parser carry.
    # Three have no readable From (a broken header line ends the header block): quarantined.
    assert folder("imap_tools/") == Counter({"enquiry": 104, "bounce": 6, "quarantined": 3})
    assert folder("mail-parser/") == Counter({"enquiry": 21, "bounce": 1, "quarantined": 1})
    assert folder("talon/") == Counter({"enquiry": 13})
    # email_reply_parser's fixtures are bare bodies without headers: no sender, so quarantined.
    assert folder("email_reply_parser/") == Counter({"quarantined": 46})
    # 140 enquiries from 98 distinct senders: a sender who wrote twice has one lead, and one
    # person who wrote from two addresses (Mikel Lindsaar, test@lindsaar.net and
    # mikel@test.lindsaar.net) is merged into one: 97 leads.
    assert leads == 97
    with store.transaction() as session:
        survivor = storage.leads.by_email(session, "test@lindsaar.net")
        assert survivor is not None and survivor.email == "mikel@test.lindsaar.net"
