"""POST /api/v1/imports and GET /api/v1/imports/{id} with a real HTTP client against the real
serve: a dry run by default (nothing stored), ?apply=true imports in the background and the
journal answers as `leadbot import show ID --json` prints it; multipart and raw bodies, CSV
and XLSX; scopes, the body limit, unreadable files and bad options are 4xx, never 500."""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from tests.services.bot import RunningBot, running_bot
from tests.web.api.conftest import make_key

CSV = (
    "E-Mail,Vorname,Firma,Land\n"
    "ann@acme-imports.test,Ann,Acme,US\n"
    "bo@globex-imports.test,Bo,Globex,SE\n"
    ",Nobody,X,\n"
)
LIMIT = 20_000


@pytest.fixture(scope="module")
def bot(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    workdir = tmp_path_factory.mktemp("api-imports")
    shutil.copy(sqlite_template, workdir / "leadbot.db")
    url = f"sqlite:///{workdir / 'leadbot.db'}"
    with running_bot(workdir, url, LEADBOT_API_MAX_IMPORT_BYTES=str(LIMIT)) as running:
        yield running


@pytest.fixture(scope="module")
def api(bot: RunningBot) -> Iterator[httpx.Client]:
    key = make_key(bot, "importer", "imports:write,imports:read,leads:read", rate=100_000)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{bot.http_url}/api/v1", headers=headers, timeout=60) as client:
        yield client


def upload(api: httpx.Client, name: str, data: bytes, **query: str) -> httpx.Response:
    return api.post("/imports", params=query, files={"file": (name, data, "text/csv")})


def journal(api: httpx.Client, import_id: str) -> dict[str, Any]:
    """Poll the journal until the import is done (a deadline, no sleeping blind)."""
    deadline = time.monotonic() + 30
    while True:
        answer = api.get(f"/imports/{import_id}")
        assert answer.status_code == 200, answer.text
        data = answer.json()
        if data["state"] != "running" or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def emails(api: httpx.Client) -> list[str]:
    return sorted(lead["email"] for lead in api.get("/leads", params={"limit": 200}).json()["data"])


def test_a_dry_run_then_an_import_and_its_journal(bot: RunningBot, api: httpx.Client) -> None:
    dry = upload(api, "brokers.csv", CSV.encode(), source="broker-x")
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert (report["dry_run"], report["id"], report["file"], report["format"]) == (
        True, None, "brokers.csv", "csv")  # fmt: skip
    assert (report["counts"]["rows"], report["counts"]["new"], report["counts"]["bad"]) == (3, 2, 1)
    assert report["bad"][0]["reason"] == "no email address"
    assert emails(api) == []  # a dry run stores nothing

    started = upload(api, "brokers.csv", CSV.encode(), apply="true", source="broker-x",
                     tag="spring,fair")  # fmt: skip
    assert started.status_code == 202, started.text
    import_id = started.json()["id"]
    assert started.json()["status"] == f"/api/v1/imports/{import_id}"
    done = journal(api, import_id)
    assert (done["state"], done["actor"], done["counts"]["new"]) == ("done", "api:importer", 2)
    assert done["options"]["source"] == "broker-x" and done["options"]["tags"] == ["spring", "fair"]
    assert emails(api) == ["ann@acme-imports.test", "bo@globex-imports.test"]
    # the same journal as the CLI prints it
    assert done == bot.cli_json("import", "show", import_id)
    assert api.get(f"/imports/{import_id.removeprefix('I-')}").json() == done


def test_a_raw_body_and_an_xlsx_file(api: httpx.Client) -> None:
    raw = api.post("/imports", params={"filename": "list.tsv"},
                   content="email\tcompany\nkim@initech-imports.test\tInitech\n",
                   headers={"Content-Type": "text/tab-separated-values"})  # fmt: skip
    assert raw.status_code == 200, raw.text
    assert (raw.json()["format"], raw.json()["counts"]["new"]) == ("tsv", 1)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email", "First name"])
    sheet.append(["lee@umbrella-imports.test", "Lee"])
    data = io.BytesIO()
    book.save(data)
    xlsx = api.post(
        "/imports",
        content=data.getvalue(),
        headers={
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        },
    )
    assert xlsx.status_code == 200, xlsx.text
    assert (xlsx.json()["format"], xlsx.json()["counts"]["new"]) == ("xlsx", 1)


def test_what_it_cannot_take_is_a_4xx_with_a_code(bot: RunningBot, api: httpx.Client) -> None:
    base = f"{bot.http_url}/api/v1"
    reader = make_key(bot, "reader-only", "leads:read")
    refused = httpx.post(f"{base}/imports", files={"file": ("a.csv", b"email\n")},
                         headers={"Authorization": f"Bearer {reader}"})  # fmt: skip
    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")
    cases: list[tuple[httpx.Response, int, str]] = [
        (upload(api, "big.csv", b"email\n" + b"x@y.test\n" * (LIMIT // 9)), 413, "body_too_large"),
        (api.post("/imports", content=iter([b"email\n", b"x" * LIMIT]),  # chunked: no length
                  headers={"Content-Type": "text/csv"}), 413, "body_too_large"),
        (api.post("/imports", json={"file": "a"}), 415, "unsupported_media_type"),
        (upload(api, "broken.xlsx", b"PK\x03\x04 not a workbook"), 422, "unreadable_file"),
        (upload(api, "empty.csv", b""), 422, "unreadable_file"),
        (upload(api, "a.csv", b"email\n", apply="maybe"), 400, "bad_parameter"),
        (upload(api, "a.csv", b"email\n", map="Email"), 400, "bad_parameter"),
        (upload(api, "a.csv", b"email\n", keep="shoe_size"), 400, "bad_parameter"),
        (upload(api, "a.csv", b"email\n", colour="red"), 400, "unknown_parameter"),
        (upload(api, "a.pdf", b"%PDF-1.7"), 415, "unsupported_file"),
        (api.post("/imports", files={"other": ("a.csv", b"email\n")}), 400, "unknown_field"),
        (api.post("/imports", content=b"--x\r\nbroken",
                  headers={"Content-Type": "multipart/form-data; boundary=x"}), 400, ""),
        (api.post("/imports", files={"file": ("a.csv", b"email\n")},
                  headers={"Idempotency-Key": "k1"}), 400, "idempotency_not_supported"),
        (api.get("/imports/I-999"), 404, "not_found"),
        (api.get("/imports/..%2F..%2Fetc"), 404, "not_found"),
        (api.get("/imports/I-1x"), 404, "not_found"),
    ]  # fmt: skip
    for answer, status, code in cases:
        assert answer.status_code == status, (answer.request.url, answer.text)
        if code:
            assert answer.json()["code"] == code, answer.text
    # a path in the file name is not followed: the file is read under its base name only
    sneaky = upload(api, "../../etc/passwd.csv", b"email\nsam@hooli-imports.test\n")
    assert sneaky.status_code == 200 and sneaky.json()["file"] == "passwd.csv"
    assert api.get("/openapi.json").json()["paths"]["/imports"]["post"]["security"] == [
        {"bearer": ["imports:write"]}
    ]
