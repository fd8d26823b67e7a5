"""The spool (storage/spool.py): group commits from many threads, moves into the store once even
when a mover died between the store's commit and the spool's delete, an item that cannot be
moved stays (with its error) and never holds the others back; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

import storage.forms
from bot.forms import definitions
from bot.mail_in.inbox import spool_entry
from storage import spool as spooling
from storage.engine import Store
from storage.models import InboundMessage
from storage.spool import MAX_ATTEMPTS, Entry, Spool, SpoolWriter


def mail(n: int, message_id: str | None = None) -> bytes:
    mid = message_id or f"<m{n}@acme.test>"
    return f"From: buyer{n}@acme.test\r\nSubject: q{n}\r\nMessage-ID: {mid}\r\n\r\nhi\r\n".encode()


def smtp(n: int, message_id: str | None = None) -> Entry:
    return spool_entry(mail(n, message_id), channel="smtp", mail_from=f"buyer{n}@acme.test",
                       rcpt_tos=["leads@acme-leads.test"])  # fmt: skip


def inbox(store: Store) -> list[InboundMessage]:
    with store.reading() as session:
        rows = list(session.exec(select(InboundMessage).order_by(InboundMessage.id)).all())
        for row in rows:
            session.expunge(row)
        return rows


def test_where_the_spool_lives() -> None:
    assert spooling.spool_path_for("sqlite:///data/leadbot.db", "") == "data/leadbot.db.spool"
    assert spooling.spool_path_for("sqlite:////srv/lb.db", "") == "/srv/lb.db.spool"
    assert spooling.spool_path_for("sqlite:///lb.db", "off") is None
    assert spooling.spool_path_for("sqlite:///:memory:", "") is None
    assert spooling.spool_path_for("postgresql+psycopg://x@h/db", "") is None
    assert spooling.spool_path_for("postgresql+psycopg://x@h/db", "/var/s") == "/var/s"


def test_twenty_threads_get_every_entry_committed_once_in_group_commits(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s.spool"))
    commits: list[int] = []
    writer = SpoolWriter(spool, lambda kinds: commits.append(len(kinds)))
    ids: list[int] = []
    lock = threading.Lock()

    def door(k: int) -> None:
        for n in range(10):
            spooled = writer.submit(smtp(k * 100 + n)).result(timeout=30)
            with lock:
                ids.append(spooled)

    threads = [threading.Thread(target=door, args=(k,)) for k in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.stop()
    assert sorted(ids) == list(range(1, 201))
    assert len(commits) <= 200  # one per commit: entries that waited went in together
    again = Spool(spool.path)  # another process opening the file sees every entry
    items = again.oldest(500)
    assert [item.id for item in items] == list(range(1, 201))
    assert len({item.token for item in items}) == 200
    assert again.counts() == {"smtp": 200}


def test_a_spool_that_cannot_be_written_fails_the_door_s_future(tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    writer = SpoolWriter(Spool(str(tmp_path / "a-directory")))
    with pytest.raises(Exception, match=r"unable to open|directory"):
        writer.submit(smtp(1)).result(timeout=30)
    writer.stop()


def test_mail_moves_into_the_inbox_queue_once_even_after_a_crash_before_the_delete(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(str(tmp_path / "s.spool"))
    spool.append([smtp(1), smtp(2), smtp(3, message_id="<m1@acme.test>")])
    received = spool.oldest(10)[0].received_at

    real_remove = spool.remove

    def crash(ids: list[int]) -> None:
        raise OSError("killed between the store's commit and the spool's delete")

    monkeypatch.setattr(spool, "remove", crash)
    with pytest.raises(OSError):
        spooling.move(spool, store)
    assert len(spool.oldest(10)) == 3  # still spooled, and already in the store
    monkeypatch.setattr(spool, "remove", real_remove)
    assert spooling.move(spool, store) == Counter()  # found there: nothing moved twice
    assert spool.oldest(10) == [] and spool.counts() == {}

    rows = inbox(store)
    assert [(r.state, r.message_id, r.duplicate_of) for r in rows] == [
        ("queued", "<m1@acme.test>", None),
        ("queued", "<m2@acme.test>", None),
        ("duplicate", "<m1@acme.test>", rows[0].id),  # a Message-ID seen before, as ever
    ]
    first = rows[0]
    assert (first.channel, first.mail_from, first.rcpt_tos) == (
        "smtp", "buyer1@acme.test", ["leads@acme-leads.test"],
    )  # fmt: skip
    assert first.raw == mail(1) and first.source_key.startswith("spool:")
    assert first.received_at == received  # the time of the 250, not of the move


def test_a_submission_moves_once_and_a_tokenless_one_gets_a_nonce(
    store: Store, tmp_path: Path
) -> None:
    with store.transaction() as session:
        form = definitions.create(session, "demo", ["email:required"])
        form_id = form.id
    spool = Spool(str(tmp_path / "s.spool"))

    def submission(nonce: str | None) -> Entry:
        values = {"form_id": form_id, "received_at": "2026-12-01T10:00:00+00:00", "nonce": nonce,
                  "posted": {"email": "jane@acme.io"}, "address": "jane@acme.io",
                  "digest": "d1", "reasons": [], "attribution": {}, "consent": {}}  # fmt: skip
        return Entry("form", json.dumps(values).encode())

    spool.append([submission("n-1"), submission(None)])
    items = spool.oldest(10)
    assert spooling.move(spool, store) == Counter({"form": 2})
    spool.append([submission("n-1")])  # the same one moved again (a mover that died)
    spooling.move(spool, store)
    with store.reading() as session:
        rows = storage.forms.submissions_of(session, form_id)
        states = sorted((row.state, row.nonce) for row in rows)
    assert states == [
        ("duplicate", None),
        ("queued", "n-1"),
        ("queued", f"spool:{items[1].token}"),
    ]


def test_an_item_that_cannot_be_moved_stays_with_its_error_and_the_others_move(
    store: Store, tmp_path: Path
) -> None:
    spool = Spool(str(tmp_path / "s.spool"))
    spool.append([smtp(1), Entry("form", b"{not json"), Entry("fax", b"?"), smtp(2)])
    assert spooling.move(spool, store) == Counter({"smtp": 2})
    assert [r.message_id for r in inbox(store)] == ["<m1@acme.test>", "<m2@acme.test>"]
    left = spool.oldest(10)
    assert [(i.kind, i.attempts) for i in left] == [("form", 1), ("fax", 1)]
    assert left[0].error.startswith("JSONDecodeError") and "no mover" in left[1].error
    for _ in range(MAX_ATTEMPTS - 1):
        spooling.move(spool, store)
    assert spool.oldest(10) == []  # no longer tried: kept for a person, never dropped
    assert [i.kind for i in spool.oldest(10, stuck=True)] == ["form", "fax"]
    assert spool.counts() == {"stuck": 2}


def test_a_moved_mail_is_gone_from_the_spool_s_files_while_the_spool_stays_open(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "s.spool"
    spool = Spool(str(path))
    marker = b"canary-7f3a9c-spooled-and-moved"
    body = mail(1).replace(b"hi", marker * 40)  # an overflow page's worth, and more
    entry = spool_entry(body, channel="smtp", mail_from="a@acme.test", rcpt_tos=["l@x.test"])
    spool.append([entry])
    assert marker in path.read_bytes() + path.with_name("s.spool-wal").read_bytes()
    spool.oldest(1)  # a reader of this spool, as the doors' writer and the mover are
    assert spooling.move(spool, store) == Counter({"smtp": 1})
    files = [p for p in tmp_path.iterdir() if p.name.startswith("s.spool")]
    assert all(marker not in p.read_bytes() for p in files), [p.name for p in files]
    assert marker in inbox(store)[0].raw  # moved, not lost
    spool.close()
