"""Who sent it: free-mail domains (a person, no company) and role addresses (a desk, no person).

The free-mail list lives in bot/data/freemail_domains.txt, read once. Matching is by registrable
domain, so "mail.yahoo.co.jp" counts as Yahoo and "nyc.rr.com" as Road Runner.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

FREEMAIL_DATA = "data/freemail_domains.txt"

# Second-level labels under a country code that are part of the public suffix ("acme.co.uk",
# "acme.com.au"). A short list instead of the full Public Suffix List: it covers the suffixes
# that business mail comes from, and a miss only makes a registrable domain one label too short.
_SECOND_LEVEL_LABELS = frozenset(
    {
        "ac", "co", "com", "edu", "gen", "go", "gob", "gov", "govt", "gv", "in", "info", "lg",
        "ltd", "me", "mil", "ne", "net", "nom", "or", "org", "plc", "sch",
    }
)  # fmt: skip

# Local parts (or their first word) that name a desk rather than a person.
_ROLE_WORDS = frozenset(
    {
        "abuse", "accounting", "accounts", "admin", "administrator", "alerts", "all", "billing",
        "bookings", "booking", "bounce", "bounces", "careers", "contact", "contacto", "contato",
        "customercare", "customerservice", "customers", "daemon", "dev", "devnull", "donotreply",
        "enquiries", "enquiry", "events", "everyone", "feedback", "finance", "help", "helpdesk",
        "hello", "hi", "hostmaster", "hr", "info", "information", "inquiries", "inquiry",
        "invoice", "invoices", "it", "jobs", "kontakt", "legal", "list", "mail", "mailer",
        "mailer-daemon", "marketing", "media", "news", "newsletter", "noc", "noreply",
        "notifications", "notification", "office", "ops", "orders", "partners", "payments",
        "postmaster", "press", "privacy", "procurement", "purchasing", "recruiting",
        "recruitment", "reply", "reservations", "root", "sales", "security", "service",
        "services", "shop", "staff", "store", "support", "sysadmin", "team", "tech", "test",
        "webmaster", "welcome", "www",
    }
)  # fmt: skip

# Words that may stand beside a role word without making it personal ("sales-team", "no-reply",
# "info.de", "do_not_reply", "support2").
_ROLE_QUALIFIERS = frozenset(
    {
        "at", "au", "ca", "center", "centre", "de", "department", "dept", "desk", "do", "es",
        "eu", "fr", "global", "group", "inbox", "intl", "it", "mailbox", "main", "nl", "no",
        "not", "uk", "us", "usa", "world",
    }
)  # fmt: skip

_LOCAL_WORD_SPLIT = re.compile(r"[._\-]+")


@functools.cache
def _freemail_entries() -> tuple[frozenset[str], frozenset[str]]:
    """(exact domains, names listed as "name.*"), read once from the data file."""
    text = resources.files("bot").joinpath(FREEMAIL_DATA).read_text(encoding="utf-8")
    exact: set[str] = set()
    wildcard_names: set[str] = set()
    for raw_line in text.splitlines():
        entry = raw_line.split("#", 1)[0].strip().lower()
        if not entry:
            continue
        if entry.endswith(".*"):
            wildcard_names.add(entry[:-2])
        else:
            exact.add(entry)
    return frozenset(exact), frozenset(wildcard_names)


def _clean_domain(domain: str) -> str:
    return domain.strip().strip(".").rpartition("@")[2].lower()


def registrable_domain(domain: str) -> str:
    """The part of a host name that was registered: "mail.acme.co.uk" -> "acme.co.uk"."""
    labels = [label for label in _clean_domain(domain).split(".") if label]
    if len(labels) <= 2:
        return ".".join(labels)
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL_LABELS:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def is_freemail(domain: str) -> bool:
    """True for gmail.com, hotmail.fr, mail.yahoo.co.jp, comcast.net and the like."""
    host = _clean_domain(domain)
    if not host:
        return False
    exact, wildcard_names = _freemail_entries()
    labels = host.split(".")
    if any(".".join(labels[i:]) in exact for i in range(len(labels) - 1)):
        return True
    registrable = registrable_domain(host)
    return registrable.split(".", 1)[0] in wildcard_names and "." in registrable


def is_role_address(local_part: str) -> bool:
    """True for info, sales, support, no-reply, sales-team, info.de: a desk, not a person."""
    local = local_part.strip().lower().rpartition("@")[0] or local_part.strip().lower()
    local = local.split("+", 1)[0]
    if not local:
        return False
    if local in _ROLE_WORDS:
        return True
    words = [word.rstrip("0123456789") for word in _LOCAL_WORD_SPLIT.split(local)]
    words = [word for word in words if word]
    return any(word in _ROLE_WORDS for word in words) and all(
        word in _ROLE_WORDS or word in _ROLE_QUALIFIERS for word in words
    )


def company_from_domain(domain: str) -> str:
    """Company name from a domain: "acme-robotics.co.uk" -> "Acme Robotics"; "" for free-mail."""
    host = domain.strip().lower().rpartition("@")[2].strip(".")
    if not host or is_freemail(host):
        return ""
    label = registrable_domain(host).split(".", 1)[0]
    if label.startswith("xn--"):
        try:
            label = label.encode("ascii").decode("idna")
        except UnicodeError:
            return ""
    words = [word for word in re.split(r"[-_]+", label) if word]
    if not words or all(word.isdigit() for word in words):
        return ""
    if len(words) == 1 and len(words[0]) <= 3:
        return words[0].upper()
    return " ".join(word[:1].upper() + word[1:] for word in words)
