"""What a form is: its fields, thank-you URL, origins, consent text and tags, checked once when
marketing defines it (`leadbot form create`), so the web route never trusts the request for any
of them (the thank-you URL above all: a redirect never comes from the request)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

import storage.forms
from bot.leads import fields
from storage.models import WebForm

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# The fields a form may ask for: the lead's declared fields, and the message (its enquiry).
MESSAGE = "message"
FIELD_NAMES: tuple[str, ...] = ("email", *fields.NAMES, MESSAGE)
LABELS: dict[str, str] = {
    "email": "Email",
    MESSAGE: "Message",
    **{f.name: f.label.capitalize() for f in fields.PERSON_FIELDS},
}
# Hidden fields every form carries; the snippet's script (or the hosted page) fills them.
TOKEN = "_token"
PAGE = "_page"
REFERRER = "_referrer"
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
HONEYPOT = "homepage"
CONSENT = "consent"
HIDDEN: tuple[str, ...] = (TOKEN, PAGE, REFERRER, *UTM)


class FormError(ValueError):
    """A form definition that cannot be used, or a form that does not exist; says why."""


@dataclass(frozen=True)
class FormField:
    name: str
    required: bool = False

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def input_type(self) -> str:
        return {"email": "email", "phone": "tel", "website": "url"}.get(self.name, "text")


def parse_field(spec: str) -> FormField:
    """`email:required`, `company` → a FormField; FormError for an unknown name or flag."""
    name, _, flag = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in FIELD_NAMES:
        raise FormError(f"unknown field {name!r}; a form may ask for: {', '.join(FIELD_NAMES)}")
    if flag not in ("", "required", "optional"):
        raise FormError(f"{spec!r}: a field is NAME or NAME:required")
    return FormField(name, flag == "required")


def check_url(url: str, what: str, *, origin_only: bool = False) -> str:
    """An absolute http(s) URL (for an origin: scheme://host[:port] and nothing more)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FormError(f"{what} must be an absolute http(s) URL, not {url!r}")
    if origin_only:
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise FormError(f"{what} is scheme://host[:port], without a path: {url!r}")
        return f"{parts.scheme}://{parts.netloc}".lower()
    return url.strip()


def consent_version(text: str) -> str:
    """The version of a consent text: its hash, so the proof names the exact words agreed to."""
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else ""


def form_fields(form: WebForm) -> list[FormField]:
    return [FormField(f["name"], bool(f.get("required"))) for f in form.fields]


def create(
    session: Session,
    name: str,
    field_specs: Sequence[str],
    *,
    redirect: str = "",
    origins: Sequence[str] = (),
    double_opt_in: bool = False,
    consent: str = "",
    tags: Sequence[str] = (),
) -> WebForm:
    """Define a form. It always asks for the address (a lead is a person who can be written to),
    required, first when the specs leave it out."""
    if not NAME.match(name):
        raise FormError(f"a form's name is lower-case letters, digits and dashes: {name!r}")
    parsed = [parse_field(spec) for spec in field_specs]
    names = [f.name for f in parsed]
    for index, field_name in enumerate(names):
        if field_name in names[:index]:
            raise FormError(f"field {field_name!r} is named twice")
    if "email" not in names:
        parsed.insert(0, FormField("email", True))
    parsed = [FormField(f.name, True) if f.name == "email" else f for f in parsed]
    form = WebForm(
        name=name,
        fields=[{"name": f.name, "required": f.required} for f in parsed],
        redirect_url=check_url(redirect, "--redirect") if redirect else "",
        origins=sorted({check_url(o, "--origin", origin_only=True) for o in origins}),
        double_opt_in=double_opt_in,
        consent_text=consent.strip(),
        consent_version=consent_version(consent.strip()),
        tags=sorted({t.strip().lower() for t in tags if t.strip()}),
    )
    try:
        return storage.forms.add_form(session, form)
    except ValueError as exc:
        raise FormError(str(exc)) from None


def get(session: Session, name: str) -> WebForm:
    form = storage.forms.form_by_name(session, name.strip().lower())
    if form is None:
        raise FormError(f"no form named {name!r} (leadbot form list)")
    return form


def disable(session: Session, name: str) -> WebForm:
    form = get(session, name)
    form.state = "disabled"
    session.add(form)
    return form


def url_of(form: WebForm, public_url: str) -> str:
    return f"{public_url.rstrip('/')}/f/{form.name}"


def form_dict(session: Session, form: WebForm, public_url: str) -> dict[str, Any]:
    """A form as `form list/show --json` print it."""
    assert form.id is not None
    counts = storage.forms.submission_counts(session, form.id)
    return {
        "name": form.name,
        "state": form.state,
        "url": url_of(form, public_url),
        "fields": [{"name": f["name"], "required": bool(f.get("required"))} for f in form.fields],
        "redirect": form.redirect_url or None,
        "origins": list(form.origins),
        "double_opt_in": form.double_opt_in,
        "consent": {"text": form.consent_text, "version": form.consent_version}
        if form.consent_text
        else None,
        "tags": list(form.tags),
        "counts": {
            "submissions": sum(counts.values()),
            **{s: counts.get(s, 0) for s in ("queued", "done", "held", "quarantined", "duplicate")},
            "leads": storage.forms.lead_count(session, form.id),
        },
        "created_at": form.created_at.isoformat(),
    }
