"""Privacy in the logs: addresses in log lines are masked (`j***@acme.io`). A log is a copy of
personal data that erase cannot reach, so none is written to it. Installed on the handlers of
the root logger by every process that configures logging (serve, its workers)."""

from __future__ import annotations

import logging
import re

ADDRESS = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask(text: str) -> str:
    return ADDRESS.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


class MaskAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let logging report it as it does
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Mask addresses on every handler of `logger` (the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, MaskAddresses) for f in handler.filters):
            handler.addFilter(MaskAddresses())
