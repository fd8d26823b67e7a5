"""The /reports dashboard on a real `leadbot serve` over a store with a known history: opened in
headless Chromium, each chart has the bars and points its figures call for; a CSV sits under
each; a tampered, revoked or missing link is refused, and bad parameters get 400, never 500."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storage.engine import Store
from tests.reports.history import build
from tests.services.bot import RunningBot, running_bot
from tests.services.chromium import chromium_page

SCREENSHOT = Path("/work/notes/reports-dashboard.png")


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[RunningBot]:
    workdir = tmp_path_factory.mktemp("reports-bot")
    path = workdir / "leadbot.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    store = Store(url)
    build(store)
    store.dispose()
    with running_bot(workdir, url) as running:
        yield running


def link(bot: RunningBot, days: str = "7") -> dict:
    return bot.cli_json("report", "link", "--days", days)


async def draw(url: str, profile: Path) -> dict[str, int]:
    async with chromium_page(profile) as page:
        await page.call("Emulation.setDeviceMetricsOverride", width=1366, height=900,
                        deviceScaleFactor=1, mobile=False)  # fmt: skip
        await page.navigate(url)
        counts = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('svg[id^=chart-]')].map(s =>"
            " [s.id, s.querySelectorAll('rect.bar, circle.point').length]))"
        )
        counts["csv_links"] = await page.evaluate("document.querySelectorAll('a.csv').length")
        shot = await page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
        return counts


def test_the_dashboard_draws_every_chart(bot: RunningBot, tmp_path: Path) -> None:
    # The link names LEADBOT_PUBLIC_URL; this serve listens on a free port of its own.
    url = bot.http_url + "/reports?" + link(bot)["url"].split("?", 1)[1] + "&days=3650"
    counts = asyncio.run(draw(url, tmp_path / "chromium"))
    # funnel: 4 stages; sources: 4 channels, each a point in each of the 5 weeks that had leads;
    # speed: 2 reps, a wall and a working-hours bar each; aging: 4 bands, open and untouched.
    assert counts == {"chart-funnel": 4, "chart-sources": 20, "chart-speed": 4,
                      "chart-aging": 8, "csv_links": 4}  # fmt: skip


def test_each_chart_has_its_csv(bot: RunningBot) -> None:
    token = link(bot)["url"].split("t=", 1)[1]
    response = httpx.get(f"{bot.http_url}/reports/aging.csv", params={"t": token})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    # The history's clock is November 2026, this serve's is now: the bands move with the
    # days, the totals do not (6 open leads, 2 of them never touched; figures test the bands).
    assert [r["age"] for r in rows] == ["0-1d", "1-7d", "7-30d", "30d+"]
    assert sum(int(r["open"]) for r in rows) == 6
    assert sum(int(r["untouched"]) for r in rows) == 2
    funnel = httpx.get(f"{bot.http_url}/reports/funnel.csv", params={"t": token, "days": "3650"})
    assert funnel.text.splitlines()[-1].startswith("total,7,2,2,1,")


def test_bad_links_and_parameters_are_refused(bot: RunningBot) -> None:
    made = link(bot)
    token = made["url"].split("t=", 1)[1]
    get = lambda path, **params: httpx.get(f"{bot.http_url}{path}", params=params)  # noqa: E731
    assert get("/reports").status_code == 403
    assert get("/reports", t=token[:-2] + "xx").status_code == 403
    assert get("/reports", t="x" * 5000).status_code == 403
    assert get("/reports", t=token, days="0").status_code == 400
    assert get("/reports", t=token, days="abc").status_code == 400
    assert get("/reports", t=token, by="year").status_code == 400
    assert get("/reports/nope.csv", t=token).status_code == 404
    assert get("/reports", t=token).status_code == 200
    bot.cli("report", "revoke", str(made["id"]))
    assert get("/reports", t=token).status_code == 403
    assert get("/reports/funnel.csv", t=token).status_code == 403
