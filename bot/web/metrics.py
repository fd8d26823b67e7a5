"""/metrics (the Prometheus text format, prometheus-client) and /readyz.

The figures are read from the store when Prometheus scrapes, by a collector on a registry of
this app's own (no module-level metrics a test would have to reset), so every serve process and
worker reports the same numbers: they are the store's, not one process's counters. /readyz
answers 503 while the store does not answer or the inbox worker is not running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import storage.metrics
from storage.engine import Store
from storage.models import utcnow

# Histogram bounds in seconds: a minute to a week.
BOUNDS = (1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0)


class StoreCollector(Collector):
    def __init__(self, store: Store, now: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.now = now

    def collect(self) -> Iterator[object]:
        now = self.now()
        with self.store.reading() as session:
            leads = storage.metrics.leads_by_channel(session)
            inbound = storage.metrics.inbound_by_classification(session)
            held = storage.metrics.intake_held(session)
            quarantined = storage.metrics.inbox_quarantined(session)
            waiting, oldest = storage.metrics.queue_waiting(session)
            pending, oldest_pending = storage.metrics.outbox_pending(session)
            failures = storage.metrics.outbox_failures(session)
            to_lead = storage.metrics.arrival_to_lead_seconds(session)
            touch = storage.metrics.touch_buckets(session, BOUNDS)
        family = CounterMetricFamily("leadbot_leads_captured", "Leads captured, by channel.",
                                     labels=["channel"])  # fmt: skip
        for channel, count in sorted(leads.items()):
            family.add_metric([channel], count)
        yield family
        family = CounterMetricFamily("leadbot_inbound_messages", "Inbound mail, by classification.",
                                     labels=["classification"])  # fmt: skip
        for kind, count in sorted(inbound.items()):
            family.add_metric([kind], count)
        yield family
        yield GaugeMetricFamily("leadbot_intake_quarantine_size", "Captures held by intake.",
                                value=held)  # fmt: skip
        yield GaugeMetricFamily("leadbot_inbox_quarantine_size", "Mail the inbox quarantined.",
                                value=quarantined)  # fmt: skip
        yield GaugeMetricFamily("leadbot_assignment_queue_depth", "Leads waiting for a rep.",
                                value=waiting)  # fmt: skip
        yield GaugeMetricFamily(
            "leadbot_assignment_queue_oldest_seconds", "Age of the longest-waiting lead.",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )  # fmt: skip
        yield GaugeMetricFamily("leadbot_outbox_pending", "Notifications not sent yet.",
                                value=pending)  # fmt: skip
        yield GaugeMetricFamily(
            "leadbot_outbox_lag_seconds", "Age of the oldest notification not sent yet.",
            value=(now - oldest_pending).total_seconds() if oldest_pending else 0.0,
        )  # fmt: skip
        family = CounterMetricFamily(
            "leadbot_notification_failures",
            "Slack and webhook notifications that failed (state=failed: given up; "
            "state=pending/sent: needed a retry), by kind.", labels=["kind", "state"],
        )  # fmt: skip
        for key, count in sorted(failures.items()):
            family.add_metric(key.split("|", 1), count)
        yield family
        yield _histogram("leadbot_arrival_to_lead_seconds",
                         "Mail received to lead made or updated (the latest 5000 mails).",
                         _buckets(to_lead), len(to_lead), sum(to_lead))  # fmt: skip
        counts, total, seconds = touch
        yield _histogram("leadbot_arrival_to_first_touch_seconds",
                         "Lead arrival (or reopening) to the first human touch.",
                         counts, total, seconds)  # fmt: skip


def _buckets(values: list[float]) -> list[int]:
    return [sum(1 for v in values if v <= bound) for bound in BOUNDS]


def _histogram(name: str, doc: str, counts: list[int], total: int,
               seconds: float) -> HistogramMetricFamily:  # fmt: skip
    buckets = [(f"{bound:g}", count) for bound, count in zip(BOUNDS, counts, strict=True)]
    buckets.append(("+Inf", total))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=seconds)


def metrics_routes(store: Store, inbox_running: Callable[[], bool]) -> list[Route]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))

    async def metrics(request: Request) -> Response:
        try:
            body = await asyncio.to_thread(generate_latest, registry)
        except Exception as exc:  # the store is down: say so, as /healthz does
            return Response(f"store unavailable: {exc}\n", 503, media_type="text/plain")
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def check_store() -> None:
        with store.reading() as session:
            storage.metrics.ping(session)

    async def readyz(request: Request) -> JSONResponse:
        problems = []
        try:
            await asyncio.to_thread(check_store)
        except Exception as exc:
            problems.append(f"store: {exc.__class__.__name__}")
        if not inbox_running():
            problems.append("inbox worker: not running")
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, 503)
        return JSONResponse({"status": "ready"})

    return [Route("/metrics", metrics, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
