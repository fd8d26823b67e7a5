"""The /api/v1 imports: `POST /imports` takes a CSV, TSV or XLSX file (multipart/form-data with
one `file` part, or the file as the raw body) and runs issue 16's importer on it: a dry run by
default (200, what importing would do), `?apply=true` for real (202 as soon as the import is in
its journal, with its id; it goes on in the background). `GET /imports/{id}` answers the
journal as `leadbot import show ID --json` prints it, so a caller polls it for `state`.

The upload has a body limit of its own (LEADBOT_API_MAX_IMPORT_BYTES), checked on
Content-Length and again while streaming; the file goes to a private temporary folder under a
cleaned name and is deleted when the import is over.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session

import storage.imports
from bot.imports.columns import BadMapping, parse_pairs
from bot.imports.run import ImportFailed, Options, run_import
from bot.imports.views import row_dict, run_dict
from bot.leads import fields
from bot.rules.file import Rules
from bot.web.api.http import FILE_TYPES, ApiError, Call, Upload

log = logging.getLogger("leadbot.api")

IMPORT_QUERY = ("apply", "source", "tag", "queue", "ignore_unknown", "map", "ignore",
                "overwrite", "keep", "filename")  # fmt: skip
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
# How long POST ?apply=true waits for the import to be in its journal before answering.
START_WAIT_SECONDS = 60.0
SHOWN_ROWS = 1000


def flag(call: Call, name: str) -> bool:
    value = call.query.get(name, "false").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ApiError(400, "bad_parameter", f"{name} is true or false, not {value!r}", field=name)


def names(call: Call, name: str) -> frozenset[str]:
    chosen = frozenset(n.strip() for n in call.query.get(name, "").split(",") if n.strip())
    allowed = {*fields.NAMES, "custom"}
    unknown = sorted(chosen - allowed)
    if unknown:
        raise ApiError(400, "bad_parameter", f"{name}: not a field: {', '.join(unknown)}",
                       field=name, known=sorted(allowed))  # fmt: skip
    return chosen


def options_of(call: Call) -> Options:
    """The importer's options from the query, as `leadbot import FILE` takes them."""
    try:
        mapping = parse_pairs(call.query.get("map", ""))
    except BadMapping as exc:
        raise ApiError(400, "bad_parameter", str(exc), field="map") from None
    ignore = call.query.get("ignore", "")
    source = call.query.get("source", "csv").strip() or "csv"
    if len(source) > 100 or not source.isprintable():
        raise ApiError(400, "bad_parameter", "source is printable text, 100 characters at most",
                       field="source")  # fmt: skip
    tags = tuple(t.strip() for t in call.query.get("tag", "").split(",") if t.strip())
    return Options(
        mapping=mapping,
        ignore=tuple(n.strip() for n in ignore.split(",") if n.strip() and n.strip() != "*"),
        ignore_unknown=flag(call, "ignore_unknown") or ignore.strip() == "*",
        source=source,
        tags=tags,
        overwrite=names(call, "overwrite"),
        keep=names(call, "keep"),
        queue=flag(call, "queue"),
        actor=call.caller.actor,
    )


def file_name(upload: Upload, call: Call) -> str:
    """A safe name to read the file under: the caller's base name cleaned, with a suffix the
    importer reads (a name with none gets the one of its content type)."""
    given = call.query.get("filename") or upload.filename or ""
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", Path(given.replace("\\", "/")).name)[:100]
    base = base.strip(" .") or "upload"
    suffix = Path(base).suffix.lower()
    if suffix in SUFFIXES:
        return base
    typed = FILE_TYPES.get(upload.content_type, "")
    if suffix or not typed:
        raise ApiError(415, "unsupported_file",
                       "send a .csv, .tsv or .xlsx file (name it, or give its content type)",
                       known=list(SUFFIXES))  # fmt: skip
    return base + typed


class Imports:
    """The handlers; `rules` returns the rules in force."""

    def __init__(self, rules: Callable[[], Rules]) -> None:
        self.rules = rules

    def create(self, store: Any, call: Call) -> tuple[int, Any]:
        upload: Upload = call.body
        apply = flag(call, "apply")
        options = options_of(call)
        name = file_name(upload, call)
        folder = Path(tempfile.mkdtemp(prefix="leadbot-import-"))
        path = folder / name
        path.write_bytes(upload.data)
        if not apply:
            try:
                report = run_import(store, path, options, self.rules(), dry_run=True)
            except ImportFailed as exc:
                raise ApiError(422, "unreadable_file", str(exc)) from None
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return 200, report.as_data()
        return self._apply(store, path, options)

    def _apply(self, store: Any, path: Path, options: Options) -> tuple[int, Any]:
        """Start the import in a thread of its own; answer once it is in the journal (or has
        failed before its first row)."""
        started = threading.Event()
        outcome: dict[str, Any] = {}
        rules = self.rules()

        def on_start(import_id: str) -> None:
            outcome["id"] = import_id
            started.set()

        def work() -> None:
            try:
                report = run_import(store, path, options, rules, dry_run=False, started=on_start)
                outcome["report"] = report.as_data()
            except ImportFailed as exc:
                outcome["failed"] = str(exc)
            except Exception:  # logged; the journal says `interrupted`, resumable by the CLI
                log.exception("import of %s failed", path.name)
                outcome["crashed"] = True
            finally:
                shutil.rmtree(path.parent, ignore_errors=True)
                started.set()

        threading.Thread(target=work, name=f"import {path.name}", daemon=True).start()
        if not started.wait(START_WAIT_SECONDS) and "id" not in outcome:
            raise ApiError(503, "busy", "the import did not start in time; retry later")
        if "failed" in outcome:
            raise ApiError(422, "unreadable_file", outcome["failed"])
        if "id" not in outcome:
            raise ApiError(503, "import_failed", "the import failed to start; it is logged")
        import_id = outcome["id"]
        return 202, {
            "id": import_id,
            "state": "running" if "report" not in outcome else "done",
            "status": f"/api/v1/imports/{import_id}",
            "message": f"importing; GET /api/v1/imports/{import_id} until its state is done",
        }

    def show(self, session: Session, call: Call) -> tuple[int, Any]:
        ref = call.params["import_id"].strip()
        match = re.fullmatch(r"(?i)I-?(\d{1,12})|(\d{1,12})", ref)
        run = None
        if match:
            run = storage.imports.run_by_id(session, int(match.group(1) or match.group(2)))
        if run is None or run.id is None:
            raise ApiError(404, "not_found", f"no import {ref!r}; ids look like I-3")
        data = run_dict(run)
        data["rows"] = [
            row_dict(row) for row in storage.imports.rows_of(session, run.id, limit=SHOWN_ROWS)
        ]
        return 200, data
