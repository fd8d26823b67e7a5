"""One POST to a form, from what the browser sent to a stored submission.

`accept` answers what the web route needs to say: the form is unknown (404), a field is
missing or malformed (422, with the field and the reason), the post came without a fill token
(a page with JavaScript off: shown again, with a fresh token, for one more click), or it was
stored: committed before the answer, with what the answer-time checks found (honeypot, too
fast, forged/expired/replayed token, another site's origin, an over-long message). Those checks
do not refuse: they are reasons, and the processor (bot/forms/process.py) puts a submission
with reasons in the intake quarantine, where a person approves or rejects it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from email_validator import EmailNotValidError, validate_email

import storage.forms
from bot.forms import definitions as d
from bot.forms.tokens import FormTokens
from bot.rules.forms import FormRules
from storage.engine import Store
from storage.models import WebForm, utcnow


@dataclass(frozen=True)
class Posted:
    """What the transport read from the request: the values and the headers that matter."""

    values: Mapping[str, Any]
    client_ip: str = ""
    user_agent: str = ""
    referer: str = ""
    origin: str = ""
    content_type: str = ""


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def as_data(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass
class Outcome:
    """`kind`: stored, invalid, confirm (no token: show the form again) or missing (no form)."""

    kind: str
    form: WebForm | None = None
    submission_id: int | None = None
    errors: list[FieldError] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    # `checked`: the submission to store (column → value), as `storage.forms.add_submission`
    # takes it; the route commits it to the spool, `accept` to the store.
    submission: dict[str, Any] | None = None


def text_values(values: Mapping[str, Any]) -> dict[str, str]:
    """Posted values as text: JSON numbers and booleans as written, lists and objects refused
    by `validate` (a form field holds one value)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[str(key)] = value.strip()
        elif isinstance(value, bool):
            out[str(key)] = "yes" if value else ""
        elif isinstance(value, int | float):
            out[str(key)] = str(value)
        elif value is None:
            out[str(key)] = ""
    return out


def validate(form: WebForm, raw: Mapping[str, Any], values: Mapping[str, str]) -> list[FieldError]:
    """What the visitor must fix: a required field left empty, a malformed address, a value that
    is not text."""
    errors: list[FieldError] = []
    for spec in d.form_fields(form):
        if spec.name in raw and spec.name not in values:
            errors.append(FieldError(spec.name, "must be text"))
            continue
        value = values.get(spec.name, "")
        if spec.required and not value:
            errors.append(FieldError(spec.name, "is required"))
        elif spec.name == "email" and value:
            try:
                # test_environment: addresses at .test domains (tests, staging) are accepted.
                validate_email(value, check_deliverability=False, test_environment=True)
            except EmailNotValidError as exc:
                errors.append(FieldError("email", f"is not an email address: {exc}"))
    return errors


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def answer_time_reasons(
    form: WebForm,
    posted: Posted,
    values: Mapping[str, str],
    check_age: float,
    token_problem: str,
    rules: FormRules,
    own_origins: tuple[str, ...],
) -> list[dict[str, str]]:
    reasons: list[dict[str, str]] = []
    if values.get(d.HONEYPOT):
        reasons.append(
            {"check": "honeypot", "detail": f"the hidden field {d.HONEYPOT!r} was filled"}
        )
    if token_problem:
        reasons.append({"check": "token", "detail": f"the form's token is {token_problem}"})
    elif check_age < rules.min_fill_seconds:
        reasons.append(
            {
                "check": "too_fast",
                "detail": f"sent {check_age:.2f} s after the form was shown, under "
                f"{rules.min_fill_seconds:g} s",
            }
        )
    origin = posted.origin.strip().lower()
    if origin and origin != "null" and origin not in own_origins and origin not in form.origins:
        reasons.append(
            {"check": "origin", "detail": f"posted from {origin}, not an origin of the form"}
        )
    message = values.get(d.MESSAGE, "")
    if len(message) > rules.message_max_chars:
        reasons.append(
            {
                "check": "length",
                "detail": f"message is {len(message)} characters, over {rules.message_max_chars}",
            }
        )
    return reasons


def attribution_of(values: Mapping[str, str], referer: str) -> dict[str, str]:
    """UTM parameters, the landing page and the referring page: from the hidden fields the
    snippet fills, else the landing page's query and the Referer header."""
    page = values.get(d.PAGE, "") or referer
    query = dict(parse_qsl(urlsplit(page).query))
    found = {key: values.get(key, "") or query.get(key, "") for key in d.UTM}
    found["page"] = page
    found["referrer"] = values.get(d.REFERRER, "")
    return {key: value[:2000] for key, value in found.items() if value}


def digest_of(form: WebForm, values: Mapping[str, str]) -> str:
    shown = {spec.name: values.get(spec.name, "") for spec in d.form_fields(form)}
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:32]


def accept(
    store: Store,
    form: WebForm | None,
    posted: Posted,
    tokens: FormTokens,
    rules: FormRules,
    own_origins: tuple[str, ...],
) -> Outcome:
    """Check and store one POST (see the module's docstring)."""
    outcome = checked(form, posted, tokens, rules, own_origins)
    if outcome.kind != "checked" or outcome.submission is None:
        return outcome
    with store.transaction() as session:
        stored = storage.forms.add_submission(session, outcome.submission)
        return Outcome("stored", form, submission_id=stored)


def checked(
    form: WebForm | None,
    posted: Posted,
    tokens: FormTokens,
    rules: FormRules,
    own_origins: tuple[str, ...],
) -> Outcome:
    """The answer-time checks of one POST, without storing it: `checked` with the submission,
    or what `accept` answers otherwise (missing, invalid, confirm)."""
    if form is None or form.state != "active":
        return Outcome("missing")
    assert form.id is not None
    values = text_values(posted.values)
    errors = validate(form, posted.values, values)
    if errors:
        return Outcome("invalid", form, errors=errors, values=values)
    token = values.get(d.TOKEN, "")
    if not token and posted.content_type != "application/json":
        # A browser posting a pasted snippet with JavaScript off has no token yet.
        return Outcome("confirm", form, values=values)
    check = tokens.check_fill(token, form.id, rules.token_max_age_minutes * 60)
    consent: dict[str, Any] = {}
    if form.consent_text:
        consent = {
            "text": form.consent_text,
            "version": form.consent_version,
            "checked": bool(values.get(d.CONSENT)),
        }
    received_at = utcnow()
    if consent:
        consent["at"] = received_at.isoformat()
    submission = {
        "form_id": form.id,
        "received_at": received_at,
        "posted": {k: v for k, v in values.items() if k != d.TOKEN},
        "address": values.get("email", "").lower(),
        "client_ip": posted.client_ip[:64],
        "user_agent": posted.user_agent[:500],
        "content_type": posted.content_type[:100],
        "attribution": attribution_of(values, posted.referer),
        "consent": consent,
        "nonce": check.nonce,
        "reasons": answer_time_reasons(
            form, posted, values, check.age, check.problem, rules, own_origins
        ),
        "digest": digest_of(form, values),
    }
    return Outcome("checked", form, submission=submission)
