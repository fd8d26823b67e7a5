"""The tracking endpoints on the ASGI app: pixel, click redirect (no open redirect), opt-out
(GET confirms, POST opts out by address), undo; buffered hits become events and timeline entries."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import storage.campaigns
import storage.leads
import storage.timeline
from bot.nurture.links import TrackingLinks
from bot.web.app import build_http_app
from bot.web.tracking import GIF, HitBuffer, PixelFastPath, tracking_routes
from storage.engine import Store
from storage.models import Lead
from tests.campaign_helpers import add_campaign, add_leads, sent_sends

LINKS = TrackingLinks("http://testserver", "test-secret")
THUNDERBIRD = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Thunderbird/128.3.0"}
GMAIL = {"user-agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
                       "(via ggpht.com GoogleImageProxy)"}  # fmt: skip


class Client:
    """Requests to the ASGI app in-process (httpx's ASGI transport), one event loop each."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture
def tracked(store: Store) -> tuple[Client, HitBuffer, list[int]]:
    add_leads(store, 2)
    campaign_id = add_campaign(store)
    sends = sent_sends(store, campaign_id, ["https://acme.example/pricing?x=1&y=2"])
    buffer = HitBuffer(store, flush_seconds=3600, scanner_window=10)
    app = PixelFastPath(
        build_http_app(lambda: {"status": "ok"}, tracking_routes(store, LINKS, buffer)),
        LINKS,
        buffer,
    )
    return Client(app), buffer, sends


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


def timeline_kinds(store: Store, lead_id: int) -> list[str]:
    with store.reading() as session:
        return [e.kind for e in storage.timeline.for_lead(session, lead_id)]


def test_pixel_answers_at_once_and_human_opens_score_once(store: Store, tracked) -> None:  # type: ignore[no-untyped-def]
    client, buffer, [send_id, _] = tracked
    for headers in (THUNDERBIRD, THUNDERBIRD, GMAIL):
        response = client.get(path(LINKS.pixel(send_id)), headers=headers)
        assert response.status_code == 200 and response.content == GIF
        assert response.headers["content-type"] == "image/gif"
        assert "no-store" in response.headers["cache-control"]
    assert client.get(path(LINKS.pixel(send_id))[:-3] + "abc").status_code == 404
    with store.reading() as session:  # nothing written yet: the hits wait in the buffer
        assert storage.campaigns.events_of(session, 1) == []
    assert len(buffer.hits) == 3
    assert asyncio.run(buffer.flush()) == 3
    with store.reading() as session:
        events = storage.campaigns.events_of(session, 1)
        assert [(e.kind, e.verdict) for e in events] == [
            ("open", "human"), ("open", "human"), ("open", "proxy")
        ]  # fmt: skip
        send = storage.campaigns.send_by_id(session, send_id)
        assert send is not None
        lead_id = send.lead_id
    assert timeline_kinds(store, lead_id).count("email.opened") == 1


def test_click_redirects_only_to_the_url_that_was_in_the_email(store: Store, tracked) -> None:  # type: ignore[no-untyped-def]
    client, buffer, [send_id, _] = tracked
    response = client.get(path(LINKS.click(send_id, 0)), headers=THUNDERBIRD)
    assert response.status_code == 302
    assert response.headers["location"] == "https://acme.example/pricing?x=1&y=2"
    token = path(LINKS.click(send_id, 0)).rsplit("/", 1)[1]
    tampered = [
        LINKS.click(send_id, 1),  # signed, but the email had no second link
        LINKS.click(999, 0),  # no such send
        f"http://testserver/t/c/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}",
        "http://testserver/t/c/WzEsMF0.evil",
        "http://testserver/t/c/https%3A%2F%2Fevil.example",
    ]
    for url in tampered:
        refused = client.get(path(url))
        assert refused.status_code == 404 and "location" not in refused.headers
    asyncio.run(buffer.flush())
    with store.reading() as session:
        events = storage.campaigns.events_of(session, 1)
        assert [(e.kind, e.link_index, e.verdict) for e in events] == [("click", 0, "human")]
        send = storage.campaigns.send_by_id(session, send_id)
        assert send is not None
        lead_id = send.lead_id
    assert "email.clicked" in timeline_kinds(store, lead_id)


def statuses(session: Any) -> set[str]:
    return {lead.email_status for lead in storage.leads.all_by_email(session, "lead0@acme.io")}


def test_opt_out_get_confirms_post_opts_out_by_address_and_undo_restores(
    store: Store,
    tracked,  # type: ignore[no-untyped-def]
) -> None:
    client, _, [send_id, _] = tracked
    # a second lead record with the same address: the alias a merge left (the store keeps one
    # live lead per address)
    [other] = add_leads(store, 1, domain="elsewhere.test")
    with store.transaction() as session:
        live = storage.leads.by_email(session, "lead0@acme.io")
        alias = session.get(Lead, other)
        assert live is not None and alias is not None
        alias.email, alias.merged_into_id = "lead0@acme.io", live.id
        session.add(alias)
    url = path(LINKS.opt_out(send_id))
    page = client.get(url)
    assert page.status_code == 200 and 'id="unsubscribe"' in page.text
    with store.reading() as session:
        assert {
            lead.email_status for lead in storage.leads.all_by_email(session, "lead0@acme.io")
        } == {"ok"}

    done = client.post(url, content=b"List-Unsubscribe=One-Click",
                       headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    with store.reading() as session:
        leads = storage.leads.all_by_email(session, "lead0@acme.io")
        assert len(leads) == 2 and {lead.email_status for lead in leads} == {"opted_out"}
        assert storage.campaigns.stopped_members(session, [leads[0].id or 0])
    assert "email.opt_out" in timeline_kinds(store, other)

    undo = done.text.split('action="', 2)[1].split('"', 1)[0]
    assert undo.startswith("/t/r/")
    assert "Subscribe" in client.get(undo).text  # a GET changes nothing
    with store.reading() as session:
        assert storage.leads.all_by_email(session, "lead0@acme.io")[0].email_status == "opted_out"
    assert "subscribed again" in client.post(undo).text
    with store.reading() as session:
        assert {
            lead.email_status for lead in storage.leads.all_by_email(session, "lead0@acme.io")
        } == {"ok"}
        events = storage.campaigns.events_of(session, 1)
        assert [e.kind for e in events] == ["opt_out", "opt_in"]
    assert client.post(path(LINKS.opt_out(send_id))[:-2] + "zz").status_code == 404
