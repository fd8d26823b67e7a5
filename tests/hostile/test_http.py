"""Hostile HTTP against a real `leadbot serve` on both stores (issue 11, items 4, 6, 8 and 9):
bodies and heads over their limits, malformed Slack requests, replays, and /api/events abuse.
Every answer is a 4xx with a reason, never a 500, and nothing of a refused body is logged."""

from __future__ import annotations

import smtplib
import socket
import time
from email.message import EmailMessage

import httpx

from tests.fakes.slack_signing import signed_headers, slash_command_body
from tests.hostile.conftest import API_KEY, SLACK_SECRET
from tests.services.bot import RunningBot


def raw_request(bot: RunningBot, head: bytes, body_chunks: int = 0, chunk: bytes = b"") -> bytes:
    """Send a request as bytes (the head, then up to `body_chunks` chunks while the server still
    reads) and return what the server answered before it closed."""
    with socket.create_connection(("127.0.0.1", bot.http_port), timeout=10) as sock:
        try:
            sock.sendall(head)
            for _ in range(body_chunks):
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what it said is read below
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
        return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_100_mb_slack_body_is_refused_unread_and_nothing_of_it_is_logged(
    served: RunningBot,
) -> None:
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Slack-Signature: v0=bad\r\nX-Slack-Request-Timestamp: 1\r\n"
        b"Content-Length: 100000000\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_request(served, head, body_chunks=4, chunk=b"MARKER-LARGE" * 8000)
    assert status_of(answer) == 413 and time.monotonic() - started < 2.0
    # Chunked, with no length declared: refused once past the limit.
    head = head.replace(b"Content-Length: 100000000", b"Transfer-Encoding: chunked")
    piece = b"%x\r\n%s\r\n" % (65536, b"M" * 65536)
    assert status_of(raw_request(served, head, body_chunks=40, chunk=piece)) == 413
    # A small body with a bad signature: 401, and its text never reaches the log.
    body = b'{"type": "event_callback", "note": "MARKER-SMALL-BODY"}'
    response = httpx.post(
        f"{served.http_url}/slack/events",
        content=body,
        headers={**signed_headers(body, "wrong-secret")},
        timeout=10,
    )
    assert response.status_code == 401 and "signature" in response.json()["error"]
    assert "MARKER" not in served.log()


def test_malformed_slack_requests_answer_400_with_a_reason(served: RunningBot) -> None:
    url = f"{served.http_url}/slack/events"
    not_json = b"{this is not json"
    headers = {**signed_headers(not_json, SLACK_SECRET), "Content-Type": "application/json"}
    response = httpx.post(url, content=not_json, headers=headers, timeout=10)
    assert response.status_code == 400 and "JSON" in response.json()["error"]
    body = slash_command_body("help")
    headers = {**signed_headers(body, SLACK_SECRET), "X-Slack-Request-Timestamp": "abc"}
    response = httpx.post(url, content=body, headers=headers, timeout=10)
    assert response.status_code == 400 and "Timestamp" in response.json()["error"]
    deep = b'{"payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {**signed_headers(deep, SLACK_SECRET), "Content-Type": "application/json"}
    assert httpx.post(url, content=deep, headers=headers, timeout=10).status_code in (400, 413)
    form = b"payload=%7Bnot-json"
    response = httpx.post(url, content=form, headers=signed_headers(form, SLACK_SECRET), timeout=10)
    assert response.status_code == 400


def test_a_signed_slack_request_is_honoured_once(served: RunningBot) -> None:
    body = slash_command_body("help", user_id="U0REPLAY")
    headers = signed_headers(body, SLACK_SECRET)
    url = f"{served.http_url}/slack/events"
    assert httpx.post(url, content=body, headers=headers, timeout=10).status_code == 200
    for _ in range(5):
        replay = httpx.post(url, content=body, headers=headers, timeout=10)
        assert replay.status_code == 401 and "replay" in replay.json()["error"]


def test_request_heads_over_the_limits_get_431(served: RunningBot) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(100_000))
    answer = raw_request(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status_of(answer) == 431
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000_000 + b"\r\n\r\n"
    assert status_of(raw_request(served, big)) == 431
    assert httpx.get(f"{served.http_url}/healthz", timeout=5).status_code == 200


def lead_by_mail(served: RunningBot, address: str) -> str:
    message = EmailMessage()
    message["From"] = f"Eve Hostile <{address}>"
    message["To"] = "leads@acme-leads.test"
    message["Subject"] = "Pricing"
    message.set_content("Pricing, please.")
    with smtplib.SMTP("127.0.0.1", served.smtp_port) as client:
        client.send_message(message)
    lead = served.wait_until(
        lambda: next(
            (row for row in served.cli_json("leads", "list") if row["email"] == address), None
        )
    )
    return lead["id"] if isinstance(lead["id"], str) else f"L-{lead['id']}"


def test_api_events_limits(served: RunningBot) -> None:
    url = f"{served.http_url}/api/events"
    auth = {"Authorization": f"Bearer {API_KEY}"}
    lead = lead_by_mail(served, "eve@events.test")
    # The key without the Bearer scheme is refused.
    event = {"lead": lead, "kind": "page.visit", "detail": "/pricing"}
    assert httpx.post(url, json=event, headers={"Authorization": API_KEY}).status_code == 401
    # A body over the limit: 413 before it is read (the declared length decides).
    head = (
        f"POST /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    ).encode()
    assert status_of(raw_request(served, head, body_chunks=2, chunk=b" " * 65536)) == 413
    # JSON nested 100,000 deep: 400 with the reason.
    deep = b"[" * 60_000 + b"]" * 60_000
    answer = httpx.post(url, content=deep, headers=auth)
    assert answer.status_code in (400, 413)
    detail = "[" * 40 + "1" + "]" * 40
    nested = f'{{"lead": "{lead}", "kind": "page.visit", "detail": {detail}}}'
    answer = httpx.post(url, content=nested, headers=auth)
    assert answer.status_code == 400 and "nested" in answer.json()["error"]
    # NUL in the detail: accepted and stored cleaned, on PostgreSQL as on SQLite.
    answer = httpx.post(url, json={**event, "detail": "/pri\x00cing"}, headers=auth)
    assert answer.status_code == 202, answer.text
    # A time far in the future is taken as now.
    answer = httpx.post(url, json={**event, "at": "9999-12-31T00:00:00Z"}, headers=auth)
    assert answer.status_code == 202, answer.text
    visits = [
        entry
        for entry in served.cli_json("leads", "show", lead)["timeline"]
        if entry["kind"] == "page.visit"
    ]
    assert [entry["data"]["detail"] for entry in visits] == ["/pricing", "/pricing"]
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60))
    assert all(entry["at"] < now for entry in visits)
