"""The rules file (LEADBOT_RULES, TOML): one loader, one reloader and one error type for all of it.

`parse_rules` turns the text into frozen dataclasses (scoring points, grading, MQL thresholds,
assignment rules, and the `[dedupe]` table's MatchRules) or raises RulesError with the line and
the reason; `RulesFile` keeps the last good rules and reloads when the file changes (mtime), so
an edit takes effect without a restart and a broken edit changes nothing. With no file, the
embedded DEFAULT_RULES apply, so `make run` works out of the box.

The domain receives a `Rules`; it never reads the settings or the file. A table of its own has
its dataclass and reader in a module of bot/rules/ (bot/rules/dedupe.py) raising `Invalid` with
the key's path, a field on `Rules`, and one line in `_build`; a table no reader checks yet
([retention], [nurture]) is kept as written in `Rules.tables` for the part of leadbot that
reads it.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from bot.rules.alerts import AlertRules
from bot.rules.checks import (
    Invalid,
    KeyPath,
    number,
    points,
    show,
    strings,
    table,
    unknown,
)
from bot.rules.dedupe import MatchRules
from bot.rules.forms import FormRules
from bot.rules.intake import IntakeRules

log = logging.getLogger(__name__)

# Behaviour events the scorer counts: rules-file name → timeline kind.
EVENT_KINDS: dict[str, str] = {
    "enquiry": "email.enquiry",
    "reply": "email.reply",
    "open": "email.opened",
    "click": "email.clicked",
    "form_post": "form.post",
    "page_visit": "page.visit",
}
GRADES = ("A", "B", "C", "D")
OWN_SECTIONS = ("scoring", "grading", "mql", "assignment", "territories", "dedupe", "intake")
# Tables added later, by the part of leadbot that reads them (bot/rules/<name>.py, bot/reports/).
OWN_SECTIONS += ("forms", "alerts")
# Tables of the same file that other parts of leadbot read, kept as written (Rules.tables).
OTHER_SECTIONS = ("retention", "nurture")
SENIORITY_LEVELS = ("executive", "vp", "director", "manager", "individual")
STRATEGIES = ("round_robin", "weighted_round_robin", "least_loaded")
# Conditions an assignment rule may put on a lead: name → kind of value.
CONDITIONS: dict[str, str] = {
    "country": "list",
    "territory": "list",
    "language": "list",
    "industry": "list",
    "product": "list",
    "grade": "list",
    "source": "list",
    "company_size_min": "int",
    "company_size_max": "int",
}

DEFAULT_RULES = """\
# leadbot's embedded rules: used when LEADBOT_RULES names no file.

[scoring]
half_life_days = 30            # a point is worth half after this many days

[scoring.points]
enquiry = 25                   # an inbound enquiry (new lead or new question)
reply = 15                     # a reply in a lead's thread
open = 2                       # a human open of a nurture email (proxies/scanners do not count)
click = 5                      # a tracked link clicked
form_post = 20                 # a web form posted
page_visit = 1                 # a page visit reported through the API

[grading]
# Fit points per criterion are added up; a total at or above a threshold gets that grade, else D.
thresholds = { A = 60, B = 40, C = 20 }
company_size = { 1 = 0, 11 = 10, 51 = 20, 201 = 30 }   # at least N employees → points
seniority = { executive = 25, vp = 20, director = 15, manager = 10, individual = 0 }
email = { company = 10, freemail = -10 }

[grading.industry]
software = 15
"*" = 0

[grading.country]
"*" = 0

[mql]
min_score = 50
min_grade = "B"
enquiries_enter_queue = true   # an inbound enquiry is a hand raised: offered to sales at once

[assignment]
default_sla_minutes = 60
recheck_seconds = 10           # how often a lead nobody could take is looked at again
# manager = "manager@example.com"   # told when an SLA lapses; default: reps with role manager

[[assignment.rule]]
name = "everyone"
pool = "all"
strategy = "round_robin"
"""


class RulesError(ValueError):
    """A rules file that cannot be used: where (line) and why."""

    def __init__(self, reason: str, line: int | None = None, source: str = "") -> None:
        self.reason = reason
        self.line = line
        self.source = source
        where = source or "rules"
        super().__init__(f"{where}:{line}: {reason}" if line else f"{where}: {reason}")


@dataclass(frozen=True)
class Scoring:
    points: dict[str, float]
    half_life_days: float


@dataclass(frozen=True)
class Grading:
    thresholds: dict[str, float]
    company_size: tuple[tuple[int, float], ...]
    seniority: dict[str, float]
    email: dict[str, float]
    industry: dict[str, float]
    country: dict[str, float]


@dataclass(frozen=True)
class Qualification:
    min_score: float
    min_grade: str
    enquiries_enter_queue: bool


@dataclass(frozen=True)
class AssignmentRule:
    name: str
    when: dict[str, Any]
    # A single rep (email) or a pool: rep emails, or ("all",) for every rep.
    rep: str | None
    pool: tuple[str, ...]
    strategy: str
    sla_minutes: int
    skills: tuple[str, ...] = ()
    match_language: bool = True
    match_territory: bool = False
    line: int | None = None

    @property
    def pool_is_everyone(self) -> bool:
        return self.pool == ("all",)


@dataclass(frozen=True)
class Rules:
    scoring: Scoring
    grading: Grading
    mql: Qualification
    rules: tuple[AssignmentRule, ...]
    territories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    manager: str | None = None
    default_sla_minutes: int = 60
    recheck_seconds: float = 10.0
    source: str = "embedded default"
    # The [dedupe] table: how de-duplication weighs fields and decides.
    match: MatchRules = field(default_factory=MatchRules)
    # The [intake] table: what capture holds as junk or a flood.
    intake: IntakeRules = field(default_factory=IntakeRules)
    # The [forms] table: web forms' spam and flood limits.
    forms: FormRules = field(default_factory=FormRules)
    # The [alerts] table: what makes a lead hot (bot/reports/alerts.py).
    alerts: AlertRules = field(default_factory=AlertRules)
    # Tables of the file that other parts of leadbot read ([retention], …), as written.
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def other_sections(self) -> tuple[str, ...]:
        """The names of the tables in `tables`, in the order the file writes them."""
        return tuple(self.tables)

    def territories_of(self, country: str) -> tuple[str, ...]:
        code = country.strip().upper()
        return tuple(name for name, codes in self.territories.items() if code and code in codes)


# --- parsing -------------------------------------------------------------------------------


def parse_rules(text: str, source: str = "rules") -> Rules:
    """The rules in `text`, or RulesError naming the line and the reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _line_from_message(str(exc))
        reason = re.sub(r"\s*\(at line \d+, column (\d+)\)$", r" (column \1)", str(exc))
        raise RulesError(f"TOML syntax: {reason}", line, source) from None
    try:
        return _build(data, source)
    except Invalid as exc:
        path = show(exc.path)
        reason = f"{path}: {exc.reason}" if path else exc.reason
        raise RulesError(reason, locate(text, exc.path), source) from None


def _line_from_message(message: str) -> int | None:
    found = re.search(r"at line (\d+)", message)
    return int(found.group(1)) if found else None


@functools.cache
def _default_data() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_RULES)


def _merged_sections(data: dict[str, Any]) -> dict[str, Any]:
    """[scoring] and [grading] as written, over the embedded default's (see `_build`)."""
    merged: dict[str, Any] = {}
    for section, by_key in (("scoring", ("points",)), ("grading", ("thresholds",))):
        written = data.get(section)
        if not isinstance(written, dict):
            continue  # absent, or not a table: `table()` reports the latter
        default = _default_data()[section]
        combined = {**default, **written}
        for key in by_key:
            if isinstance(written.get(key), dict):
                combined[key] = {**default[key], **written[key]}
        merged[section] = combined
    return merged


def _build(data: dict[str, Any], source: str) -> Rules:
    unknown(data, (*OWN_SECTIONS, *OTHER_SECTIONS), ())
    others = {key: table(data, key, ()) for key in data if key in OTHER_SECTIONS}
    match = MatchRules.from_toml({"dedupe": data["dedupe"]}) if "dedupe" in data else MatchRules()
    intake = IntakeRules.from_table(data["intake"]) if "intake" in data else IntakeRules()
    forms = FormRules.from_table(data["forms"]) if "forms" in data else FormRules()
    alerts = AlertRules.from_table(data["alerts"]) if "alerts" in data else AlertRules()
    # A section the file leaves out is the embedded default's, and so is a key a written
    # [scoring] or [grading] leaves out; [scoring.points] and [grading.thresholds] are merged
    # key by key (`enquiry = 40` keeps the other points, `A = 80` keeps B and C). A fit table
    # written ([grading.company_size], …) replaces the default's: its bands are one rule.
    data = {**_default_data(), **data, **_merged_sections(data)}
    scoring_data = table(data, "scoring", ())
    unknown(scoring_data, ("half_life_days", "points"), ("scoring",))
    points_data = table(scoring_data, "points", ("scoring",))
    unknown(points_data, tuple(EVENT_KINDS), ("scoring", "points"))
    scoring = Scoring(
        points={
            EVENT_KINDS[name]: number(value, ("scoring", "points", name))
            for name, value in points_data.items()
        },
        half_life_days=number(
            scoring_data.get("half_life_days", 30), ("scoring", "half_life_days"), minimum=0.01
        ),
    )
    grading = _build_grading(table(data, "grading", ()))
    mql_data = table(data, "mql", ())
    unknown(mql_data, ("min_score", "min_grade", "enquiries_enter_queue"), ("mql",))
    # A key the [mql] table leaves out is the embedded default's, as the README promises.
    mql_data = {**_default_data()["mql"], **mql_data}
    min_grade = mql_data.get("min_grade", "D")
    if min_grade not in GRADES:
        raise Invalid(("mql", "min_grade"), f"must be one of {', '.join(GRADES)}")
    enquiries = mql_data.get("enquiries_enter_queue", True)
    if not isinstance(enquiries, bool):
        raise Invalid(("mql", "enquiries_enter_queue"), "must be true or false")
    mql = Qualification(
        min_score=number(mql_data.get("min_score", 0), ("mql", "min_score")),
        min_grade=min_grade,
        enquiries_enter_queue=enquiries,
    )
    territories = {
        str(name): tuple(
            _country(code, ("territories", name)) for code in strings(codes, ("territories", name))
        )
        for name, codes in table(data, "territories", ()).items()
    }
    assignment = table(data, "assignment", ())
    unknown(
        assignment,
        ("default_sla_minutes", "recheck_seconds", "manager", "rule"),
        ("assignment",),
    )
    default_sla = int(
        number(
            assignment.get("default_sla_minutes", 60),
            ("assignment", "default_sla_minutes"),
            minimum=1,
        )
    )
    manager = assignment.get("manager")
    if manager is not None and not isinstance(manager, str):
        raise Invalid(("assignment", "manager"), "must be a rep's email")
    raw_rules = assignment.get("rule", [])
    if not isinstance(raw_rules, list):
        raise Invalid(("assignment", "rule"), "must be an array of tables: [[assignment.rule]]")
    rules = tuple(
        _build_rule(raw, index, default_sla, territories) for index, raw in enumerate(raw_rules)
    )
    names = [rule.name for rule in rules]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise Invalid(("assignment", "rule", index, "name"), f"rule {name!r} is named twice")
    return Rules(
        scoring=scoring,
        grading=grading,
        mql=mql,
        rules=rules,
        territories=territories,
        manager=manager.strip().lower() if manager else None,
        default_sla_minutes=default_sla,
        recheck_seconds=number(
            assignment.get("recheck_seconds", 10), ("assignment", "recheck_seconds"), minimum=0
        ),
        source=source,
        match=match,
        intake=intake,
        forms=forms,
        alerts=alerts,
        tables=others,
    )


def _build_grading(data: dict[str, Any]) -> Grading:
    path: KeyPath = ("grading",)
    unknown(data, ("thresholds", "company_size", "seniority", "email", "industry", "country"), path)
    thresholds_data = table(data, "thresholds", path)
    unknown(thresholds_data, GRADES[:3], (*path, "thresholds"))
    thresholds = points(thresholds_data, (*path, "thresholds"))
    thresholds = {k.upper(): v for k, v in thresholds.items()}
    ordered = [thresholds[g] for g in GRADES[:3] if g in thresholds]
    if ordered != sorted(ordered, reverse=True):
        raise Invalid((*path, "thresholds"), "A must need more points than B, and B than C")
    bands = []
    for key, value in table(data, "company_size", path).items():
        if not str(key).isdigit():
            raise Invalid((*path, "company_size", key), 'keys are employee counts ("51")')
        bands.append((int(key), number(value, (*path, "company_size", key))))
    seniority = points(table(data, "seniority", path), (*path, "seniority"))
    for level in seniority:
        if level not in SENIORITY_LEVELS:
            raise Invalid(
                (*path, "seniority", level), f"unknown level; known: {', '.join(SENIORITY_LEVELS)}"
            )
    email = points(table(data, "email", path), (*path, "email"))
    unknown(email, ("company", "freemail"), (*path, "email"))
    country = {
        _country(k, (*path, "country", k)) if k != "*" else k: v
        for k, v in points(table(data, "country", path), (*path, "country")).items()
    }
    return Grading(
        thresholds=thresholds,
        company_size=tuple(sorted(bands)),
        seniority=seniority,
        email=email,
        industry=points(table(data, "industry", path), (*path, "industry")),
        country=country,
    )


def _build_rule(
    raw: Any, index: int, default_sla: int, territories: dict[str, tuple[str, ...]]
) -> AssignmentRule:
    path: KeyPath = ("assignment", "rule", index)
    if not isinstance(raw, dict):
        raise Invalid(path, "must be a table")
    unknown(
        raw,
        (
            "name",
            "when",
            "rep",
            "pool",
            "strategy",
            "sla_minutes",
            "skills",
            "match_language",
            "match_territory",
        ),
        path,
    )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Invalid((*path, "name") if "name" in raw else path, "every rule needs a name")
    when_data = raw.get("when", {})
    if not isinstance(when_data, dict):
        raise Invalid((*path, "when"), "must be a table of conditions")
    when: dict[str, Any] = {}
    for key, value in when_data.items():
        kind = CONDITIONS.get(key)
        if kind is None:
            raise Invalid(
                (*path, "when", key), f"unknown condition; known: {', '.join(CONDITIONS)}"
            )
        if kind == "int":
            when[key] = int(number(value, (*path, "when", key), minimum=0))
            continue
        values = strings(value, (*path, "when", key))
        if key == "grade" and any(v.upper() not in GRADES for v in values):
            raise Invalid((*path, "when", key), f"grades are {', '.join(GRADES)}")
        if key == "territory":
            missing = [v for v in values if v not in territories]
            if missing:
                raise Invalid((*path, "when", key), f"no territory {missing[0]!r} in [territories]")
            when[key] = frozenset(values)
            continue
        if key == "country":
            when[key] = frozenset(_country(v, (*path, "when", key)).lower() for v in values)
            continue
        when[key] = frozenset(v.strip().lower() for v in values)
    rep, pool = raw.get("rep"), raw.get("pool")
    if (rep is None) == (pool is None):
        raise Invalid(path, f"rule {name!r} needs a rep or a pool (one of them)")
    if rep is not None and not isinstance(rep, str):
        raise Invalid((*path, "rep"), "must be a rep's email")
    pool_members: tuple[str, ...] = ()
    if pool is not None:
        pool_members = strings(pool, (*path, "pool"))
        if pool_members == ("all",):
            pass
        elif not pool_members or not all("@" in member for member in pool_members):
            raise Invalid((*path, "pool"), 'must be "all" or a list of rep emails')
    strategy = raw.get("strategy", "round_robin")
    if strategy not in STRATEGIES:
        raise Invalid(
            (*path, "strategy"), f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}"
        )
    flags = {}
    for flag, default in (("match_language", True), ("match_territory", False)):
        value = raw.get(flag, default)
        if not isinstance(value, bool):
            raise Invalid((*path, flag), "must be true or false")
        flags[flag] = value
    return AssignmentRule(
        name=name.strip(),
        when=when,
        rep=rep.strip().lower() if isinstance(rep, str) else None,
        pool=tuple(m.strip().lower() for m in pool_members),
        strategy=strategy,
        sla_minutes=int(
            number(raw.get("sla_minutes", default_sla), (*path, "sla_minutes"), minimum=1)
        ),
        skills=tuple(s.lower() for s in strings(raw.get("skills", []), (*path, "skills"))),
        **flags,
    )


# --- where a key is written -----------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _split_key(text: str) -> list[str]:
    """`a."b.c".d` → ["a", "b.c", "d"]."""
    parts, current, quote = [], "", ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _key_of(line: str) -> str | None:
    """The key of a `key = value` line (quotes respected), or None."""
    quote = ""
    for position, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "=":
            return line[:position].strip() or None
        elif char == "#":
            return None
    return None


def locate(text: str, path: KeyPath) -> int | None:
    """The line where `path` (("assignment", "rule", 2, "strategy")) is written, or that of its
    nearest written parent. tomllib keeps no positions and no well-kept TOML library exposes
    them (tomlkit round-trips text but has no line API), so this reads the headers and keys."""
    seen: dict[KeyPath, int] = {}
    counters: dict[tuple[str, ...], int] = {}
    current: KeyPath = ()
    depth = 0  # open brackets/braces of a multi-line value: its lines hold no keys of ours
    for line_number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if depth == 0 and (header := _HEADER.match(line)):
            names = tuple(_split_key(header.group(2)))
            if header.group(1) == "[[":
                counters[names] = counters.get(names, -1) + 1
                current = (*names, counters[names])
            else:
                current = names
            seen.setdefault(current, line_number)
            continue
        if depth == 0 and stripped and not stripped.startswith("#"):
            key = _key_of(stripped)
            if key is not None:
                full = (*current, *_split_key(key))
                seen.setdefault(full, line_number)
                # Inline tables: `when = { country = ["DE"] }` → the keys inside, same line.
                for inner in re.findall(r"[{,]\s*([\w\"'.-]+)\s*=", stripped):
                    seen.setdefault((*full, *_split_key(inner)), line_number)
        depth += _brackets(stripped)
        depth = max(depth, 0)
    for cut in range(len(path), 0, -1):
        normalised = tuple(str(part) if not isinstance(part, int) else part for part in path[:cut])
        if normalised in seen:
            return seen[normalised]
    return None


def _brackets(line: str) -> int:
    balance, quote = 0, ""
    for char in line:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    if _HEADER.match(line):
        return 0
    return balance


# --- the file, reloaded on change ------------------------------------------------------------


def _country(code: str, path: KeyPath) -> str:
    """An ISO 3166 alpha-2 country code, upper case ("de" -> "DE"); anything else ("Germany",
    "UK", "DEU") is refused where it is written: it would never match a lead's country."""
    import phonenumbers  # its regions are the ISO codes of the countries with phone numbers

    upper = code.strip().upper()
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise Invalid(path, f"{code!r} is not an ISO 3166 country code (two letters, e.g. DE, GB)")
    return upper


def load_file(path: str | Path) -> Rules:
    """The rules of the file at `path`, or RulesError (it cannot be read, or says something
    wrong): the one loader every reader of the rules file goes through."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read: {exc.strerror or exc}", None, str(path)) from None
    return parse_rules(text, str(path))


@cache
def default_rules() -> Rules:
    """The embedded default, parsed once (Rules is frozen)."""
    return parse_rules(DEFAULT_RULES, "embedded default")


def load(path: str | Path | None) -> Rules:
    """The rules of a one-off run (`leadbot dedupe scan`): the file's, the embedded default
    when there is no file, RulesError when it is bad (a command has no last good rules)."""
    if path is None or not Path(path).exists():
        return default_rules()
    return load_file(path)


class RulesFile:
    """The rules in force: the file's last good version, re-read when its mtime changes.

    A bad edit is logged and reported (`error`) while the last good rules stay in force; with no
    file at all the embedded default applies. `announce` logs each load at INFO ("rules loaded
    from …", which operators and tests watch for); the other reloaders of a process, and those
    of its worker processes, load quietly so that the line appears once per change."""

    def __init__(
        self, path: str | Path | None, check_every: float = 0.5, *, announce: bool = True
    ) -> None:
        self.path = Path(path) if path else None
        self.check_every = check_every
        self.announce = announce
        self.error: RulesError | None = None
        self._lock = threading.Lock()
        self._rules = default_rules()
        self._stamp: tuple[float, int] | None = None
        self._checked = float("-inf")
        self.reload()

    def _file_stamp(self) -> tuple[float, int] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def reload(self) -> bool:
        """Re-read the file if it changed; True when new rules took effect."""
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            if stamp is None:
                if self._rules.source != "embedded default" and self.path is not None:
                    log.warning("rules file %s is gone; keeping the last good rules", self.path)
                return False
            assert self.path is not None
            try:
                rules = load_file(self.path)
            except RulesError as exc:
                self.error = exc
                log.error("rules not changed: %s (the last good rules stay in force)", exc)
                return False
            self._rules, self.error = rules, None
            log.log(
                logging.INFO if self.announce else logging.DEBUG,
                "rules loaded from %s: %d assignment rules",
                self.path,
                len(rules.rules),
            )
            return True

    def get(self) -> Rules:
        if time.monotonic() - self._checked >= self.check_every:
            self.reload()
        return self._rules


def fingerprint(rules: Rules) -> int:
    """A number that changes when what decides scoring, grading, the MQL verdict or assignment
    changes (stable across processes: built from the description, which sorts its sets)."""
    import zlib

    text = describe(rules).split("\n", 1)[1]  # not the source line: a copy is the same rules
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def describe(rules: Rules) -> str:
    """What the rules say, in words (`leadbot rules check`)."""
    kinds = {kind: name for name, kind in EVENT_KINDS.items()}
    lines = [f"rules from {rules.source}", "scoring:"]
    scored = ", ".join(f"{kinds[k]} {v:g}" for k, v in rules.scoring.points.items())
    lines.append(f"  points: {scored or 'none'}; half-life {rules.scoring.half_life_days:g} days")
    g = rules.grading
    lines.append("grading:")
    lines.append(
        "  thresholds: " + ", ".join(f"{k} ≥ {v:g}" for k, v in g.thresholds.items()) + ", else D"
    )
    if g.company_size:
        lines.append("  company size: " + ", ".join(f"≥{n} → {p:g}" for n, p in g.company_size))
    for title, values in (
        ("seniority", g.seniority),
        ("email", g.email),
        ("industry", g.industry),
        ("country", g.country),
    ):
        if values:
            lines.append(f"  {title}: " + ", ".join(f"{k} {v:g}" for k, v in values.items()))
    m = rules.mql
    lines.append(
        f"mql: score ≥ {m.min_score:g} and grade {m.min_grade} or better"
        + ("; inbound enquiries enter the queue directly" if m.enquiries_enter_queue else "")
    )
    if rules.territories:
        lines.append(
            "territories: "
            + "; ".join(f"{name} = {', '.join(codes)}" for name, codes in rules.territories.items())
        )
    lines.append(
        f"assignment (first match wins; default SLA {rules.default_sla_minutes} min, "
        f"manager {rules.manager or 'reps with role manager'}):"
    )
    for position, rule in enumerate(rules.rules, start=1):
        lines.append(f"  {position}. {rule.name}: {describe_rule(rule)}")
    if not rules.rules:
        lines.append("  none: leads wait in the queue until assigned by hand")
    lines += describe_match(rules.match)
    f = rules.forms
    lines.append(
        f"forms: held when sent within {f.min_fill_seconds:g} s, a token older than "
        f"{f.token_max_age_minutes:g} min, a message over {f.message_max_chars} characters, or "
        f"over {f.per_ip_limit or '∞'} per IP / {f.per_address_limit or '∞'} per address / "
        f"{f.per_form_limit or '∞'} per form in {f.window_minutes:g} min; one confirmation "
        f"mail per address every {f.confirm_every_minutes:g} min"
    )
    if rules.other_sections:
        tables = ", ".join(f"[{name}]" for name in rules.other_sections)
        lines.append(f"also in the file, read elsewhere: {tables}")
    return "\n".join(lines)


def describe_match(match: MatchRules) -> list[str]:
    """The [dedupe] table in words: thresholds, what a merge keeps, the weights."""
    kept = (
        "the newest values"
        if match.survivorship == "newest"
        else f"values by source: {', '.join(match.source_priority)}"
    )
    weights = ", ".join(f"{name} {weight:g}" for name, weight in match.weights.items() if weight)
    return [
        f"dedupe: merge at ≥ {match.auto_merge:g}, review at ≥ {match.review:g}; "
        f"a merge keeps {kept}",
        f"  weights: {weights or 'none'}",
    ]


def describe_rule(rule: AssignmentRule) -> str:
    conditions = []
    for key, value in rule.when.items():
        shown = ", ".join(sorted(value)) if isinstance(value, frozenset) else str(value)
        conditions.append(f"{key} {shown}")
    when = "when " + " and ".join(conditions) if conditions else "any lead"
    if rule.rep:
        target = f"→ {rule.rep}"
    elif rule.pool_is_everyone:
        target = f"→ every rep by {rule.strategy}"
    else:
        target = f"→ pool {', '.join(rule.pool)} by {rule.strategy}"
    extra = [f"SLA {rule.sla_minutes} min"]
    if rule.skills:
        extra.append(f"skills {', '.join(rule.skills)}")
    if rule.match_territory:
        extra.append("rep territory must match")
    return f"{when} {target} ({'; '.join(extra)})"
