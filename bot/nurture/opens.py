"""Who opened (or clicked): a person, a privacy proxy, or a scanner. Rules that say yes or no and
why; only a person's opens and clicks score.

- proxy: Gmail's image proxy (GoogleImageProxy, via ggpht.com), Yahoo's, and Apple Mail Privacy
  Protection, which prefetches every image from Apple's network with the bare agent "Mozilla/5.0";
- scanner: security gateways and link checkers by agent, a hit with no agent, a hit within
  `scanner_window` seconds of delivery (no person reads that fast), and bursts (several hits on
  one email within a couple of seconds);
- human: anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

HUMAN, PROXY, SCANNER = "human", "proxy", "scanner"

PROXY_AGENTS: tuple[tuple[str, str], ...] = (
    ("googleimageproxy", "Gmail image proxy"),
    ("ggpht.com", "Gmail image proxy"),
    ("yahoomailproxy", "Yahoo Mail image proxy"),
)
APPLE_PROXY_AGENT = "Mozilla/5.0"
SCANNER_AGENTS = re.compile(
    r"barracuda|mimecast|proofpoint|symantec|messagelabs|trend ?micro|forcepoint|sophos|"
    r"fortinet|cisco|ironport|safelinks|linkscanner|urldefense|virustotal|"
    r"bot\b|crawler|spider|curl/|wget/|python-|aiohttp|go-http-client|java/|okhttp|"
    r"libwww|httpclient|scanner|headless-check",
    re.I,
)
# Hits on one email within BURST_SECONDS, this one included, that make a burst.
BURST_HITS = 3
BURST_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str
    reason: str


def open_verdict(
    user_agent: str,
    *,
    seconds_since_sent: float | None,
    hits_in_burst: int = 1,
    apple_network: bool = False,
    scanner_window: float = 10.0,
    kind: str = "open",
) -> Verdict:
    """The verdict on one pixel hit (or, with kind="click", one click)."""
    by_agent = agent_verdict(user_agent, kind, apple_network)
    if by_agent is not None:
        return by_agent
    if seconds_since_sent is not None and seconds_since_sent < scanner_window:
        return Verdict(SCANNER, f"{seconds_since_sent:.1f}s after delivery")
    if hits_in_burst >= BURST_HITS:
        return Verdict(SCANNER, f"burst of {hits_in_burst} hits within {BURST_SECONDS:g}s")
    return Verdict(HUMAN, "a person's mail client")


@lru_cache(maxsize=4096)
def agent_verdict(user_agent: str, kind: str, apple_network: bool) -> Verdict | None:
    """What the agent alone tells (a proxy, a scanner), or None; cached: agents repeat."""
    agent = user_agent.strip()
    lowered = agent.lower()
    if kind == "open":
        for needle, reason in PROXY_AGENTS:
            if needle in lowered:
                return Verdict(PROXY, reason)
        if agent == APPLE_PROXY_AGENT or (apple_network and "mozilla" in lowered):
            return Verdict(PROXY, "Apple Mail Privacy Protection")
    if not agent:
        return Verdict(SCANNER, "no user agent")
    if match := SCANNER_AGENTS.search(agent):
        return Verdict(SCANNER, f"scanner agent ({match.group(0)})")
    return None


def hits_in_burst(earlier: list[float], at: float) -> int:
    """How many hits, this one included, fell within BURST_SECONDS before `at`."""
    return 1 + sum(1 for t in earlier if 0 <= at - t <= BURST_SECONDS)
