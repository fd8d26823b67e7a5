"""The hit spool: hits appended by serve are written once into tracking_events, whoever drains,
however often; a dead serve's segments are drained and removed, a live one's never removed, but
what of it is drained is gone from the disk (its user agents are personal data)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import storage.campaigns
from bot.nurture.campaigns import Hit
from bot.nurture.hit_spool import HitSpool, drain
from storage.engine import Store
from tests.campaign_helpers import add_campaign, add_leads, sent_sends

AGENT = "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.3"


def events(store: Store, campaign_id: int) -> int:
    with store.reading() as session:
        return len(storage.campaigns.events_of(session, campaign_id))


def test_each_hit_is_written_once_by_concurrent_and_repeated_drains(
    store: Store, tmp_path: Path
) -> None:
    add_leads(store, 2)
    campaign_id = add_campaign(store)
    sends = sent_sends(store, campaign_id, ["https://acme.example/"])
    spool = HitSpool(tmp_path / "hits")
    start = time.time()
    for i in range(300):
        spool.append(Hit("open", sends[i % 2], start + i * 5, AGENT, None, False))
    spool.append(Hit("click", sends[0], start + 2000, f'{AGENT} "odd"\ttab', 0, True))
    os.write(spool.fd, b'["open",')  # a hit half written when serve was killed
    counts: list[int] = []

    def writer() -> None:
        counts.append(drain(store, spool.folder, 0, owner=os.getpid()))

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 301 and events(store, campaign_id) == 301
    assert drain(store, spool.folder, 0, owner=os.getpid()) == 0  # nothing twice
    assert [p.name for p in spool.folder.iterdir()] == [spool.name]  # live: kept
    with store.reading() as session:
        stored = storage.campaigns.events_of(session, campaign_id)
        [click] = [e for e in stored if e.kind == "click"]
        assert click.user_agent == f'{AGENT} "odd"\ttab' and click.link_index == 0
    spool.close()


def test_a_dead_serve_s_segment_is_drained_then_removed(store: Store, tmp_path: Path) -> None:
    add_leads(store, 1)
    campaign_id = add_campaign(store)
    [send_id] = sent_sends(store, campaign_id, [])
    folder = tmp_path / "hits"
    folder.mkdir()
    # A serve that no longer runs (no pid is this high) left two hits and a torn line.
    dead = folder / "hits-4194999-1.log"
    dead.write_bytes(b'["open",%d,1.5,"a",null,false]\n["open",%d,9.5,"b",null,false]\n["o'
                     % (send_id, send_id))  # fmt: skip
    assert drain(store, folder, 0, owner=os.getpid(), finished_only=True) == 2
    assert not dead.exists() and events(store, campaign_id) == 2
    with store.reading() as session:
        assert storage.campaigns.lock_spool_offset(session, dead.name) == 0  # row gone


def test_a_live_segment_keeps_nothing_it_has_drained(store: Store, tmp_path: Path) -> None:
    add_leads(store, 1)
    campaign_id = add_campaign(store)
    [send_id] = sent_sends(store, campaign_id, [])
    spool = HitSpool(tmp_path / "hits")
    segment = spool.folder / spool.name
    start = time.time()
    for i in range(50):
        spool.append(Hit("open", send_id, start + i * 5, f"{AGENT} reader-{i}", None, False))
    assert drain(store, spool.folder, 0, owner=os.getpid()) == 50
    size = segment.stat().st_size
    assert segment.read_bytes() == bytes(size)  # zeros where the hits were, offsets kept
    # the serve appends on after the hole; the next drain writes only the new hit, then frees it
    spool.append(Hit("open", send_id, start + 900, f"{AGENT} reader-late", None, False))
    assert drain(store, spool.folder, 0, owner=os.getpid()) == 1
    assert b"reader-late" not in segment.read_bytes() and segment.stat().st_size > size
    with store.reading() as session:
        agents = {e.user_agent for e in storage.campaigns.events_of(session, campaign_id)}
    assert f"{AGENT} reader-late" in agents and len(agents) == 51
    spool.close()
