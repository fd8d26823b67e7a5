"""Who opened: a person, a privacy proxy (Gmail, Apple Mail Privacy Protection) or a scanner."""

from __future__ import annotations

import pytest

from bot.nurture.opens import hits_in_burst, open_verdict

THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.mark.parametrize(
    ("agent", "kwargs", "kind", "reason"),
    [
        (THUNDERBIRD, {"seconds_since_sent": 3600}, "human", "a person's mail client"),
        (GMAIL, {"seconds_since_sent": 3600}, "proxy", "Gmail image proxy"),
        (GMAIL, {"seconds_since_sent": 1}, "proxy", "Gmail image proxy"),
        ("Mozilla/5.0", {"seconds_since_sent": 3600}, "proxy", "Apple Mail Privacy Protection"),
        (THUNDERBIRD, {"seconds_since_sent": 3600, "apple_network": True}, "proxy",
         "Apple Mail Privacy Protection"),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
         {"seconds_since_sent": 3600}, "proxy", "Yahoo Mail image proxy"),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", {"seconds_since_sent": 3600},
         "scanner", "scanner agent (Barracuda)"),
        ("python-requests/2.31", {"seconds_since_sent": 3600}, "scanner",
         "scanner agent (python-)"),
        ("", {"seconds_since_sent": 3600}, "scanner", "no user agent"),
        (THUNDERBIRD, {"seconds_since_sent": 2.0}, "scanner", "2.0s after delivery"),
        (THUNDERBIRD, {"seconds_since_sent": 3600, "hits_in_burst": 3}, "scanner",
         "burst of 3 hits within 2s"),
        (THUNDERBIRD, {"seconds_since_sent": None}, "human", "a person's mail client"),
    ],
)  # fmt: skip
def test_open_verdicts(agent: str, kwargs: dict, kind: str, reason: str) -> None:
    verdict = open_verdict(agent, **kwargs)
    assert (verdict.kind, verdict.reason) == (kind, reason)


def test_clicks_are_never_proxies_but_scanners_are_caught() -> None:
    assert open_verdict(GMAIL, seconds_since_sent=3600, kind="click").kind == "human"
    assert open_verdict("Mimecast URL scan", seconds_since_sent=3600, kind="click").kind == (
        "scanner"
    )
    assert open_verdict(THUNDERBIRD, seconds_since_sent=1, kind="click").kind == "scanner"


def test_a_burst_counts_recent_hits_on_the_same_email() -> None:
    assert hits_in_burst([], 100.0) == 1
    assert hits_in_burst([99.0, 99.5], 100.0) == 3
    assert hits_in_burst([90.0, 99.5], 100.0) == 2
