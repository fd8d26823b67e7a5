"""Retention inside `leadbot serve`: the `[retention]` rules run once a day (the first time a
minute after start), each run in one transaction; a failed run is logged and tried next day."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.privacy import retention
from bot.rules.file import Rules
from storage.engine import Store
from storage.models import utcnow

log = logging.getLogger("leadbot.retention")

EVERY_SECONDS = 24 * 3600.0
FIRST_AFTER_SECONDS = 60.0


def run_once(store: Store, rules: Rules) -> list[retention.Outcome]:
    table = rules.tables.get("retention")
    if not table:
        return []
    parsed = retention.RetentionRules.from_table(table)
    with store.transaction() as session:
        outcomes = retention.run(session, parsed, utcnow(), dry_run=False)
    store.forget_freed()
    return outcomes


async def run_retention_daily(
    store: Store, rules: Callable[[], Rules], first_after: float = FIRST_AFTER_SECONDS
) -> None:
    await asyncio.sleep(first_after)
    while True:
        try:
            outcomes = await asyncio.to_thread(run_once, store, rules())
            done = ", ".join(f"{o.rule} {o.count}" for o in outcomes if o.count)
            if done:
                log.info("retention: %s", done)
        except Exception:
            log.exception("retention failed; trying again tomorrow")
        await asyncio.sleep(EVERY_SECONDS)
