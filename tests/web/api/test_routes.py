"""/api/v1 with a real HTTP client against the real serve: scopes, errors, creates through
capture, idempotency, actions, pagination while leads are being added, rate limits."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from storage.engine import Store
from storage.models import Lead
from tests.services.bot import RunningBot
from tests.web.api.conftest import make_key


def new_address() -> str:
    return f"p{uuid.uuid4().hex[:10]}@prospect-{uuid.uuid4().hex[:6]}.test"


def create(client: httpx.Client, **fields: object) -> httpx.Response:
    return client.post("/leads", json={"email": new_address(), **fields})


def test_a_key_acts_only_within_its_scopes(api_bot: RunningBot, client: httpx.Client) -> None:
    base = f"{api_bot.http_url}/api/v1"
    reader = make_key(api_bot, "reader", "leads:read")
    as_reader = {"Authorization": f"Bearer {reader}"}
    assert httpx.get(f"{base}/leads", headers=as_reader).status_code == 200
    refused = httpx.post(f"{base}/leads", headers=as_reader, json={"email": new_address()})
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert refused.json()["required"] == "leads:write"
    assert httpx.get(f"{base}/reps", headers=as_reader).json()["code"] == "insufficient_scope"
    for headers in ({}, {"Authorization": "Bearer lb_00000000_nope"}, {"Authorization": "x"}):
        answer = httpx.get(f"{base}/leads", headers=headers)
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    # Revoked: refused from now on (the server trusts a key it checked for two seconds at most).
    api_bot.cli("apikey", "revoke", "reader")
    api_bot.wait_until(
        lambda: httpx.get(f"{base}/leads", headers=as_reader).status_code == 401, timeout=30
    )
    listed = {key["name"]: key for key in api_bot.cli_json("apikey", "list")}
    assert listed["reader"]["revoked_at"] and listed["reader"]["last_used_at"]
    assert listed["reader"]["scopes"] == ["leads:read"]
    assert "key_hash" not in listed["reader"] and "key" not in listed["reader"]


def test_create_goes_through_capture_and_shows_with_its_timeline(client: httpx.Client) -> None:
    email = new_address()
    body = {"email": email, "first_name": "Ada", "company": "Acme", "enquiry": "40 seats?",
            "custom": {"crm_id": "0031"}}  # fmt: skip
    made = client.post("/leads", json=body)
    assert made.status_code == 201, made.text
    lead = made.json()["lead"]
    assert lead["source"] == "api" and lead["first_name"] == "Ada"
    assert lead["custom"] == {"crm_id": "0031"}
    again = client.post("/leads", json={"email": email.upper(), "title": "CTO"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["lead"]["id"] == lead["id"] and again.json()["lead"]["title"] == "CTO"
    shown = client.get(f"/leads/{lead['id']}").json()
    kinds = [entry["kind"] for entry in shown["timeline"]]
    assert kinds[:2] == ["created", "api.create"] and "fields.updated" in kinds
    assert client.get(f"/leads/{email}").json()["id"] == lead["id"]
    # A disposable address is held in the intake quarantine, not dropped and not a lead.
    held = client.post("/leads", json={"email": "someone@mailinator.com"})
    assert held.status_code == 202 and held.json()["held"].startswith("H-")


def test_update_fields_refuses_unknown_and_stale(client: httpx.Client) -> None:
    lead = create(client).json()["lead"]
    changed = client.patch(f"/leads/{lead['id']}", json={"title": "VP Sales", "version": 1})
    assert changed.status_code == 200, changed.text
    assert changed.json()["changed"] == ["title"]
    stale = client.patch(f"/leads/{lead['id']}", json={"title": "CEO", "version": 1})
    assert stale.status_code == 409 and stale.json()["code"] == "stale"
    unknown = client.patch(f"/leads/{lead['id']}", json={"status": "converted"})
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_field"
    assert "title" in unknown.json()["known"]
    long = client.patch(f"/leads/{lead['id']}", json={"phone": "1" * 65})
    assert long.status_code == 422 and long.json()["code"] == "invalid"
    assert client.patch("/leads/L-999999", json={"title": "x"}).json()["code"] == "not_found"


def test_actions_use_the_grammar_and_an_illegal_move_says_what_is_allowed(
    client: httpx.Client,
) -> None:
    lead = create(client).json()["lead"]
    done = client.post(f"/leads/{lead['id']}/actions", json={"verb": "qualify"})
    assert done.status_code == 200, done.text
    assert done.json()["lead"]["status"] == "qualified" and done.json()["lead"]["stage"] == "sql"
    illegal = client.post(f"/leads/{lead['id']}/actions", json={"verb": "qualify"})
    assert illegal.status_code == 409
    body = illegal.json()
    assert body["code"] == "illegal_transition" and body["lead_status"] == "qualified"
    assert body["allowed"] == ["nurture", "trash", "convert"]
    assert "from qualified you can: nurture, trash, convert" in body["message"]
    trash = client.post(f"/leads/{lead['id']}/actions", json={"verb": "trash", "args": ["nope"]})
    assert trash.status_code == 422 and trash.json()["code"] == "bad_action"
    unknown = client.post(f"/leads/{lead['id']}/actions", json={"verb": "teleport"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_verb"
    note = client.post(f"/leads/{lead['id']}/actions", json={"verb": "note", "args": ["hi"]})
    assert note.status_code == 200


def test_idempotent_create_answers_the_first_answer_and_does_nothing_again(
    client: httpx.Client,
) -> None:
    body = {"email": new_address(), "company": "Once Ltd"}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = client.post("/leads", json=body, headers=key)
    second = client.post("/leads", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    shown = client.get(f"/leads/{first.json()['lead']['id']}").json()
    assert [e["kind"] for e in shown["timeline"]].count("api.create") == 1
    other = client.post("/leads", json={**body, "company": "Twice"}, headers=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # Racing requests with one key: one change, the same answer for all.
    race = {"Idempotency-Key": uuid.uuid4().hex}
    racing_body = {"email": new_address()}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: client.post("/leads", json=racing_body, headers=race),
                                range(6)))  # fmt: skip
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["lead"]["id"] for a in answers}) == 1
    found = client.get("/leads", params={"q": racing_body["email"]}).json()["data"]
    assert len(found) == 1
    # An action with a key: the second try does not move the lead again (no 409).
    lead = found[0]["id"]
    act = {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(2):
        moved = client.post(f"/leads/{lead}/actions", json={"verb": "work"}, headers=act)
        assert moved.status_code == 200, moved.text


def test_bad_input_is_a_json_error_never_a_500(api_bot: RunningBot, client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    cases = [
        (client.post("/leads", content=b"{bad", headers=headers), 400, "bad_json"),
        (client.post("/leads", content=b"[1,2]", headers=headers), 400, "bad_json"),
        (client.post("/leads", content=b"\xff\xfe", headers=headers), 400, "bad_json"),
        (client.post("/leads", content=b"[" * 100_00 + b"]" * 100_00, headers=headers), 400,
         "bad_json"),
        (client.post("/leads", content=b'{"email": "a@b.test", "custom": {"x": NaN}}',
                     headers=headers), 400, "bad_json"),
        (client.post("/leads", content=b'{"email": "\\ud800@b.test"}', headers=headers), 400,
         "bad_json"),
        (client.post("/leads", json={"email": "a@b.test", "color": "red"}), 400, "unknown_field"),
        (client.post("/leads", json={"first_name": "no email"}), 422, "missing_field"),
        (client.post("/leads", json={"email": 12}), 422, "invalid"),
        # null is not text: a caller meaning "empty" leaves the field out
        (client.post("/leads", json={"email": "n@b.test", "city": None}), 422, "invalid"),
        (client.post("/leads", json={"email": "n@b.test", "custom": None}), 422, "invalid"),
        (client.post("/leads", content=b"email=x", headers={"Content-Type": "text/plain"}), 415,
         "unsupported_media_type"),
        (client.delete("/leads"), 405, "method_not_allowed"),
        (client.options("/leads"), 405, "method_not_allowed"),
        (client.get("/leads", params={"limit": "0"}), 400, "bad_parameter"),
        (client.get("/leads", params={"cursor": "not-a-cursor"}), 400, "bad_cursor"),
        (client.get("/leads", params={"updated_since": "yesterday"}), 400, "bad_parameter"),
        (client.get("/leads", params={"colour": "red"}), 400, "unknown_parameter"),
        (client.get("/leads/%00%01"), 404, "not_found"),
        (client.get("/nothing/here"), 404, "not_found"),
        (client.post("/events", json={"lead": "L-1", "kind": "teleport"}), 422, "invalid"),
        (client.get("/campaigns/none-such/stats"), 404, "not_found"),
    ]  # fmt: skip
    for answer, status, code in cases:
        assert answer.status_code == status, (answer.request.url, answer.text)
        assert answer.json()["code"] == code and answer.json()["message"]
    # Huge bodies: refused by their declared length, and when streamed without one.
    huge = b'{"email": "' + b"a" * 200_000 + b'"}'
    declared = client.post("/leads", content=huge, headers=headers)
    assert declared.status_code == 413 and declared.json()["code"] == "body_too_large"
    streamed = client.post("/leads", content=iter([huge[:50_000], huge[50_000:]]), headers=headers)
    assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"
    assert "Traceback" not in api_bot.log()


def test_pagination_over_10000_leads_has_no_gaps_or_repeats_while_leads_are_added(
    api_bot: RunningBot, client: httpx.Client
) -> None:
    store = Store(api_bot.env["LEADBOT_DATABASE_URL"])
    tag = uuid.uuid4().hex[:8]
    with store.transaction() as session:
        rows = [Lead(email=f"bulk{i}-{tag}@bulk-{tag}.test", company=f"Bulk {tag}",
                     reply_token=f"{tag}{i}", source="csv") for i in range(10_000)]  # fmt: skip
        session.add_all(rows)
        session.flush()
        bulk = {f"L-{lead.id}" for lead in rows}
    store.dispose()
    stop = threading.Event()
    added: list[str] = []

    def keep_adding() -> None:
        while not stop.is_set():
            answer = client.post("/leads", json={"email": new_address()})
            if answer.status_code == 201:
                added.append(answer.json()["lead"]["id"])
            stop.wait(0.02)  # a steady trickle, not a flood that would only slow the pages

    adder = threading.Thread(target=keep_adding)
    adder.start()
    seen: list[str] = []
    cursor = None
    try:
        while True:
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            page = client.get("/leads", params=params)
            assert page.status_code == 200, page.text
            seen += [lead["id"] for lead in page.json()["data"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        adder.join()
    assert len(seen) == len(set(seen)), "a lead came twice"
    assert bulk <= set(seen), f"{len(bulk - set(seen))} leads were skipped"
    assert added and set(added) & set(seen), "nothing was added meanwhile"
    numbers = [int(lead[2:]) for lead in seen]
    assert numbers == sorted(numbers)
    filtered = client.get("/leads", params={"q": f"bulk-{tag}", "source": "csv", "limit": "5"})
    assert [lead["source"] for lead in filtered.json()["data"]] == ["csv"] * 5
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    recent = client.get("/leads", params={"updated_since": since, "status": "new", "limit": "5"})
    assert recent.status_code == 200 and len(recent.json()["data"]) == 5


def test_rate_limits_per_key_with_ratelimit_headers_and_429(api_bot: RunningBot) -> None:
    key = make_key(api_bot, "slow", "leads:read", rate=3)
    headers = {"Authorization": f"Bearer {key}"}
    url = f"{api_bot.http_url}/api/v1/leads?limit=1"
    answers = [httpx.get(url, headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["ratelimit-limit"] == "3"
    limited = answers[-1]
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Another key is not slowed down by this one.
    other = make_key(api_bot, "fast", "leads:read")
    assert httpx.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_reps_campaigns_events_and_the_old_events_route(
    api_bot: RunningBot, client: httpx.Client
) -> None:
    api_bot.cli("reps", "add", "Ann Lee", "ann@yourco.test", "--role", "manager")
    reps = client.get("/reps").json()["data"]
    assert "ann@yourco.test" in [rep["email"] for rep in reps]
    api_bot.cli("campaign", "create", "spring", "--step", "welcome:0")
    assert "spring" in [c["name"] for c in client.get("/campaigns").json()["data"]]
    stats = client.get("/campaigns/spring/stats").json()
    assert stats["campaign"] == "spring" and stats["sent"] == 0
    lead = create(client).json()["lead"]
    event = client.post("/events", json={"lead": lead["id"], "kind": "page.visit",
                                         "detail": "/pricing"})  # fmt: skip
    assert event.status_code == 202 and event.json() == {"lead": lead["id"],
                                                         "recorded": "page.visit"}  # fmt: skip
    old = httpx.post(
        f"{api_bot.http_url}/api/events",
        json={"lead": lead["email"], "kind": "form.post"},
        headers={"Authorization": "Bearer test-secret"},
    )
    assert old.status_code == 202
    kinds = [e["kind"] for e in client.get(f"/leads/{lead['id']}").json()["timeline"]]
    assert "page.visit" in kinds and "form.post" in kinds


def test_openapi_document_and_docs_page(api_bot: RunningBot) -> None:
    document = httpx.get(f"{api_bot.http_url}/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert {"/leads", "/leads/{lead}", "/leads/{lead}/actions", "/reps", "/campaigns",
            "/campaigns/{name}/stats", "/events"} <= set(document["paths"])  # fmt: skip
    page = httpx.get(f"{api_bot.http_url}/api/v1/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/api/v1/leads/{lead}/actions" in page.text and "Idempotency-Key" in page.text


# --- the OpenAPI document, fuzzed against the running serve ------------------------------------


# Examples per operation and mode: bounded, so that the whole fuzzing stays within seconds.
EXAMPLES = 8
# No 500, the documented status and content type, a body that matches its schema, and invalid
# requests refused. Not "every schema-valid request accepted": a cursor, a lead or an owner
# that does not exist is a valid string and still a 400 or 404, by design.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def test_every_operation_answers_its_schema_and_never_500(
    api_bot: RunningBot, admin_key: str
) -> None:
    """schemathesis generates requests from /api/v1/openapi.json (positive and negative data)
    and checks each answer: not a 500, documented status and content type, body matching the
    schema. It runs as plain Hypothesis tests per operation (its pytest plugin's lazy loader
    does not work on pytest 9)."""
    schema = schemathesis.openapi.from_url(f"{api_bot.http_url}/api/v1/openapi.json")
    schema.config.update(base_url=f"{api_bot.http_url}/api/v1")
    auth = {"Authorization": f"Bearer {admin_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            def check(case: Any) -> None:
                case.call_and_validate(headers=auth, checks=CHECKS)

            check()
