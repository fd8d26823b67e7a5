"""The console notifier: with no Slack configured, notifications are written to the log."""

from __future__ import annotations

import logging

from storage.models import Lead, OutboxItem, Rep

log = logging.getLogger("leadbot.notify")


class ConsoleNotifier:
    name = "console"

    def deliver(self, item: OutboxItem, lead: Lead | None, rep: Rep | None) -> str:
        who = ""
        if lead is not None:
            name = " ".join(part for part in (lead.first_name, lead.last_name) if part)
            who = f"{name} <{lead.email}>" if name else lead.email
            if lead.company:
                who += f" ({lead.company})"
        to = f" for {rep.name}" if rep else ""
        subject = item.payload.get("subject", "")
        label = item.payload.get("lead", "")
        log.info("%s %s%s: %s — %s", item.kind, label, to, who, subject)
        return f"console:{item.id}"
