"""Imports on a real store (SQLite file and PostgreSQL): dry run = apply, revert restores the
store exactly, consent and status never go back, Ctrl-C leaves a resumable journal."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

import storage.assignment
import storage.imports
import storage.intake
import storage.leads
import storage.outbox
from bot.imports import export
from bot.imports.revert import revert
from bot.imports.run import Options, run_import
from bot.leads.capture import Draft, Evidence, Source, capture
from bot.rules.file import default_rules
from storage.engine import Store
from tests.corpora import CORPORA
from tests.imports.dump import dump

RULES = default_rules()
HEADER = "E-Mail,Vorname,Nachname,Firma,Telefon,Land,Status,Unsubscribed,Lieblingsfarbe\n"
ROWS = (
    # an update of a stored lead: fills phone and country, keeps the company
    "ann@acme.io,Ann,Lee,Acme Corp,+1 415 555 0100,US,new,no,blue\n"
    # new, then the same person again further down (a duplicate within the file)
    "bo@globex.test,Bo,Ek,Globex,,SE,,,\n"
    # a sure duplicate of the stored Jane Doe under another address: merged
    "jane@initech.test,Jane,Doe,Initech Inc.,+1 212 555 0199,,,,\n"
    # the file says subscribed and new; the stored lead is opted out and qualified
    "olga@opt.test,Olga,Out,Opt Ltd,,,new,no,\n"
    "bo@globex.test,Bo,Ek,Globex AB,+46 8 123 456,,,,green\n"
    # bad rows: no address, a status an import cannot set
    ",Nobody,Here,X,,,,,\n"
    "zed@x.test,Zed,Zero,X,,,converted,,\n"
)


def stored(store: Store) -> None:
    with store.transaction() as session:
        for email, values in (
            ("ann@acme.io", {"first_name": "Ann", "last_name": "Lee", "company": "Acme"}),
            ("jane.doe@initech.test", {"first_name": "Jane", "last_name": "Doe",
                                       "company": "Initech", "phone": "212-555-0199"}),
            ("olga@opt.test", {"first_name": "Olga", "last_name": "Out", "company": "Opt"}),
        ):  # fmt: skip
            result = capture(session, Draft.of(email, **values), Source("email", "email:x", "mail"),
                             Evidence("email.enquiry", "hello"), rules=RULES)  # fmt: skip
            assert result.lead is not None
            if email == "olga@opt.test":
                result.lead.email_status, result.lead.status = "opted_out", "qualified"
                result.lead.stage = "sql"


def broker_file(tmp_path: Path) -> Path:
    path = tmp_path / "broker.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    return path


def test_dry_run_says_what_apply_does_and_revert_restores_the_store(
    store: Store, tmp_path: Path
) -> None:
    stored(store)
    path = broker_file(tmp_path)
    before = dump(store)
    dry = run_import(store, path, Options(), RULES, dry_run=True, batch_size=3,
                     errors_path=tmp_path / "dry.errors.csv")  # fmt: skip
    assert dump(store) == before  # a dry run changes nothing
    applied = run_import(store, path, Options(), RULES, dry_run=False, batch_size=3,
                         errors_path=tmp_path / "broker.errors.csv")  # fmt: skip
    assert dry.counts == applied.counts

    # (the lead ids of new leads differ on PostgreSQL: the dry run's ids are not handed out again)
    def without_ids(updates: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in update.items() if k != "lead"} for update in updates]

    assert without_ids(dry.updates) == without_ids(applied.updates)
    assert dry.bad == applied.bad
    assert applied.counts == {
        "rows": 7, "new": 1, "updated": 2, "unchanged": 1, "merged": 1, "flagged": 0,
        "duplicates_in_file": 1, "matched_store": 3, "held": 0, "bad": 2, "queued": 0,
    }  # fmt: skip
    assert [bad["line"] for bad in applied.bad] == [7, 8]
    assert (tmp_path / "broker.errors.csv").read_text() == (tmp_path / "dry.errors.csv").read_text()
    with (tmp_path / "broker.errors.csv").open() as handle:
        errors = list(csv.reader(handle))
    assert errors[0] == [*HEADER.strip().split(","), "reason"]
    assert errors[1][:3] == ["", "Nobody", "Here"] and errors[1][-1] == "no email address"
    assert "converted" in errors[2][-1]
    with store.reading() as session:
        ann = storage.leads.by_email(session, "ann@acme.io")
        olga = storage.leads.by_email(session, "olga@opt.test")
        jane = storage.leads.by_email(session, "jane@initech.test")
        bo = storage.leads.by_email(session, "bo@globex.test")
        assert ann is not None and olga is not None and jane is not None and bo is not None
        assert (ann.company, ann.phone, ann.country) == ("Acme", "+1 415 555 0100", "US")
        # the unknown column, and the time zone enrichment read from the +1 415 phone
        assert ann.custom == {"Lieblingsfarbe": "blue", "timezone": "America/Los_Angeles"}
        # an opted-out address stays opted out, a qualified lead does not become new
        assert (olga.email_status, olga.status, olga.stage) == ("opted_out", "qualified", "sql")
        assert jane.email == "jane.doe@initech.test"  # merged into the stored Jane
        assert (bo.company, bo.phone, bo.source) == ("Globex", "+46 8 123 456", "csv")
        assert storage.assignment.listing(session) == []  # --queue is off by default
        # one summary notification, not one per lead (capture's lead.new is off for imports)
        notices = [
            (item.kind, item.payload.get("import")) for item in storage.outbox.listing(session)
        ]
        assert notices[3:] == [("import.done", applied.id)]  # after the three stored leads'
        assert [kind for kind, _ in notices[:3]] == ["lead.new"] * 3
    assert dump(store) != before
    reverted = revert(store, int(str(applied.id).removeprefix("I-")), "cli:ann")
    assert (reverted.deleted, reverted.kept_leads, reverted.kept_fields) == (2, [], [])
    assert dump(store) == before


def test_revert_keeps_what_someone_changed_since(store: Store, tmp_path: Path) -> None:
    stored(store)
    run_import(store, broker_file(tmp_path), Options(), RULES, dry_run=False)
    with store.transaction() as session:
        ann = storage.leads.by_email(session, "ann@acme.io")
        bo = storage.leads.by_email(session, "bo@globex.test")
        assert ann is not None and bo is not None
        ann.phone = "+1 415 555 0111"  # a rep corrected it after the import
        storage.leads.touch(session, ann)
        storage.leads.touch(session, bo)
        bo_id = bo.id
    report = revert(store, 1, "cli:ann")
    assert report.kept_leads == [f"L-{bo_id}"]
    assert {"lead": f"L-{ann.id}", "field": "phone"} in report.kept_fields
    with store.reading() as session:
        ann = storage.leads.by_email(session, "ann@acme.io")
        assert ann is not None
        assert (ann.phone, ann.country) == ("+1 415 555 0111", "")


def test_ctrl_c_leaves_a_journal_that_resumes_or_reverts(store: Store, tmp_path: Path) -> None:
    stored(store)
    path = broker_file(tmp_path)
    before = dump(store)
    with pytest.raises(KeyboardInterrupt):
        run_import(store, path, Options(), RULES, dry_run=False, batch_size=2, stop_after=2)
    with store.reading() as session:
        run = storage.imports.run_by_id(session, 1)
        assert run is not None and (run.state, run.rows_done) == ("interrupted", 4)
        assert run.counts["rows"] == 4
    ids: list[str] = []
    resumed = run_import(store, path, Options(), RULES, dry_run=False, batch_size=2,
                         started=ids.append)  # fmt: skip
    assert ids == ["I-1"]  # before the first row: what the REST API answers with
    assert (resumed.id, resumed.resumed_from, resumed.counts["rows"]) == ("I-1", 4, 7)
    assert (resumed.counts["new"], resumed.counts["merged"], resumed.counts["bad"]) == (1, 1, 2)
    revert(store, 1, "cli:ann")
    assert dump(store) == before


def test_a_file_that_would_flood_is_not_held_and_a_five_mb_cell_is(
    sqlite_url: str, tmp_path: Path
) -> None:
    """(SQLite only: what is tested is the reading and the intake checks, not the store.)"""
    store = Store(sqlite_url)
    path = tmp_path / "many.csv"
    lines = [f"person{i}@company{i}.test,Person{i}\n" for i in range(31)]  # flood_limit is 30
    lines.append(f"huge@x.test,{'x' * (5 << 20)}\n")
    path.write_text("email,company\n" + "".join(lines))
    report = run_import(store, path, Options(queue=True), RULES, dry_run=False)
    assert (report.counts["new"], report.counts["held"], report.counts["queued"]) == (31, 1, 31)
    assert "company is 5242880 characters" in report.held[0]["reason"]
    with store.reading() as session:
        holds = storage.intake.held(session)
        assert [hold.draft["email"] for hold in holds] == ["huge@x.test"]
    store.dispose()


def test_the_shared_dedupe_corpus_as_csv(sqlite_url: str, tmp_path: Path) -> None:
    """3,337 rows with quoted newlines and few addresses: every row accounted for, the bad ones
    in the errors file as they were, on their lines."""
    store = Store(sqlite_url)
    source = CORPORA / "dedupe" / "csv_example_input_with_true_ids.csv"
    errors = tmp_path / "corpus.errors.csv"
    report = run_import(store, source, Options(), RULES, dry_run=True, errors_path=errors)
    counts = report.counts
    with source.open(newline="") as handle:
        original = list(csv.reader(handle))[1:]
    assert counts["rows"] == len(original) == 3337  # 3,682 lines: quoted newlines
    accounted = ("new", "matched_store", "duplicates_in_file", "held", "bad")
    assert sum(counts[name] for name in accounted) == counts["rows"]
    with errors.open(newline="") as handle:
        bad = list(csv.reader(handle))[1:]
    assert len(bad) == counts["bad"] > 3000
    assert all(row[:-1] in original for row in bad[:200])
    store.dispose()


def test_export_neutralises_formula_cells(store: Store, tmp_path: Path) -> None:
    with store.transaction() as session:
        draft = Draft.of("eve@evil.test", company='=HYPERLINK("http://x")',
                         first_name="@SUM(1)", last_name="-1+2", title="+cmd")  # fmt: skip
        capture(session, draft, Source("email", "email:x", "mail"), Evidence("email.enquiry", "x"),
                rules=RULES)  # fmt: skip
    csv_path = tmp_path / "leads.csv"
    with csv_path.open("w", newline="") as handle:
        assert export.export(store, handle, "csv") == 1
    with csv_path.open(newline="") as handle:
        row = dict(zip(*list(csv.reader(handle)), strict=True))
    assert (row["company"], row["first_name"], row["last_name"], row["title"]) == (
        "'=HYPERLINK(\"http://x\")", "'@SUM(1)", "'-1+2", "'+cmd")  # fmt: skip
    xlsx = tmp_path / "leads.xlsx"
    export.export(store, xlsx, "xlsx")
    sheet = load_workbook(xlsx).active
    assert sheet is not None
    cells = {h.value: c for h, c in zip(sheet[1], sheet[2], strict=True)}
    assert cells["company"].data_type == "s" and cells["company"].value.startswith("'=")
    jsonl = tmp_path / "leads.jsonl"
    with jsonl.open("w") as handle:
        export.export(store, handle, "jsonl")
    assert '"company": "=HYPERLINK' in jsonl.read_text()


def test_rows_of_one_file_merge_and_flag_each_other_and_revert_undoes_it(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(
        "email,first name,last name,company,phone,country\n"
        "bo@globex.test,Bo,Ek,Globex,+46 8 123 456,SE\n"
        "bo.ek@globex.test,Bo,Ek,Globex AB,+46 8 123 456,SE\n"  # the same man: merged
        "cy@initech.test,Cy,Young,Initech,,US\n"
        "cy.young@gmail.com,Cy,Young,Initech,,\n"  # perhaps the same: flagged
    )
    before = dump(store)
    dry = run_import(store, path, Options(), RULES, dry_run=True, batch_size=2)
    applied = run_import(store, path, Options(), RULES, dry_run=False, batch_size=2)
    assert dry.counts == applied.counts
    counts = applied.counts
    assert (counts["new"], counts["merged"], counts["flagged"]) == (3, 1, 1)
    assert counts["duplicates_in_file"] == 1
    with store.reading() as session:
        alias = storage.leads.by_email(session, "bo.ek@globex.test")
        assert alias is not None and alias.email == "bo@globex.test"
    revert(store, int(str(applied.id).removeprefix("I-")), "cli:ann")
    assert dump(store) == before


def test_a_dry_run_on_sqlite_leaves_the_write_lock_to_mail(sqlite_url: str, tmp_path: Path) -> None:
    """The dry run runs on a copy: mail arriving meanwhile is stored at once, not after it."""
    store = Store(sqlite_url)
    arrived: list[float] = []

    def mail_arrives(rows: int, position: int, total: int) -> None:
        started = time.monotonic()
        with store.transaction() as session:  # what the SMTP listener does for each mail
            capture(session, Draft.of(f"mail{rows}@example.org"), Source("email", "email:x", "m"),
                    Evidence("email.enquiry", "hi"), rules=RULES)  # fmt: skip
        arrived.append(time.monotonic() - started)

    report = run_import(store, broker_file(tmp_path), Options(), RULES, dry_run=True,
                        batch_size=3, progress=mail_arrives)  # fmt: skip
    assert len(arrived) == 3 and max(arrived) < 5  # the lock wait is 30 s
    assert report.counts["new"] == 4  # the mail that arrived is not in the copy: not stored
    with store.reading() as session:
        assert storage.leads.count(session) == 3
    store.dispose()


def test_a_batch_that_fails_rolls_back_whole_and_the_import_resumes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.imports.run

    path = broker_file(tmp_path)
    real = bot.imports.run.capture_many
    calls = [0]

    def failing(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == 2:  # the second batch: a failure no row can be blamed for
            raise OSError("the disk is full")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.imports.run, "capture_many", failing)
    with pytest.raises(OSError, match="disk is full"):
        run_import(store, path, Options(), RULES, dry_run=False, batch_size=3)
    with store.reading() as session:
        run = storage.imports.run_by_id(session, 1)
        assert run is not None and (run.state, run.rows_done) == ("interrupted", 3)
        assert storage.leads.count(session) == 3  # the first batch's leads, none of the second's
    monkeypatch.setattr(bot.imports.run, "capture_many", real)
    resumed = run_import(store, path, Options(), RULES, dry_run=False, batch_size=3)
    assert (resumed.resumed_from, resumed.counts["rows"], resumed.counts["new"]) == (3, 7, 4)


def test_a_row_the_store_refuses_is_a_bad_row_alone_and_the_others_go_in(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.leads.intake

    store = Store(sqlite_url)
    stored(store)
    real = bot.leads.intake.check

    def refusing(address: str, *args: object, **kwargs: object) -> object:
        if address == "bo@globex.test":  # both of Bo's rows: the batch, then each row alone
            raise OSError("the disk refused this row")
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.leads.intake, "check", refusing)
    errors = tmp_path / "broker.errors.csv"
    report = run_import(store, broker_file(tmp_path), Options(), RULES, dry_run=False,
                        errors_path=errors)  # fmt: skip
    assert (report.counts["rows"], report.counts["bad"], report.counts["merged"]) == (7, 4, 1)
    assert [b["line"] for b in report.bad] == [3, 6, 7, 8]
    assert "OSError: the disk refused this row" in report.bad[0]["reason"]
    with errors.open(encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert [line[0] for line in lines[1:]] == ["bo@globex.test", "bo@globex.test", "", "zed@x.test"]
    with store.reading() as session:
        assert storage.leads.by_email(session, "bo@globex.test") is None
        assert storage.leads.by_email(session, "ann@acme.io").phone == "+1 415 555 0100"  # type: ignore[union-attr]
    store.dispose()
