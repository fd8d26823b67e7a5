"""Lead fields from an inbound mail: who wrote, for which company, and what they asked.

`extract_lead` reads only the decoded `InboundMail` (no parser, no storage). The enquiry is the
new text of the message: `split_reply` cuts quoted history (bot/mail_in/extract/quotes.py) and
splits off the signature (signature.py), which is then read line by line; names, companies
(names.py) and phones (phones.py) are found there or, failing that, in the display name, the
address and the body. A web-form notification ("Company: Globex Corporation" lines, form.py)
gives its labelled fields first: they are what the person typed. Every field found records
how it was found in `LeadDraft.reasons`, so `leadbot lead why` can say it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.leads.freemail import (
    company_from_domain,
    is_freemail,
    is_role_address,
    registrable_domain,
)
from bot.mail_in.extract.form import FormFields, read_form
from bot.mail_in.extract.names import (
    person_from_display,
    person_from_local_part,
    split_person_name,
)
from bot.mail_in.extract.phones import find_phone, phone_region
from bot.mail_in.extract.quotes import new_text_lines
from bot.mail_in.extract.signature import read_signature, split_signature
from bot.mail_in.extract.text import MAX_ENQUIRY_CHARS, html_to_text
from bot.mail_in.message import InboundMail


@dataclass(frozen=True)
class LeadDraft:
    """What one mail says about a lead, before de-duplication and scoring."""

    email: str  # from address, lower-cased
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    phone: str = ""
    website: str = ""
    country: str = ""  # ISO 3166 alpha-2, from a form's "Country: United States"
    city: str = ""
    industry: str = ""
    company_size: str = ""
    enquiry: str = ""  # the new text of the message: no quoted history, no signature
    signature: str = ""  # the signature block found, if any
    reasons: tuple[str, ...] = ()  # how each field was found


def extract_lead(mail: InboundMail) -> LeadDraft:
    """Read a lead out of a decoded mail: name, company, title, phone, website and enquiry."""
    address = mail.from_address.strip().lower()
    text = mail.text if mail.text.strip() else html_to_text(mail.html)
    form = read_form(text)
    form_email = form.get("email") if form else None
    if form_email and is_role_address(address.rpartition("@")[0]) and "@" in form_email[0]:
        # A form service mails from noreply@…: the person is the address they typed.
        address = form_email[0].strip().lower()
    local_part, _, domain = address.rpartition("@")
    if not local_part:
        local_part, domain = address, ""
    company_domain = "" if not domain or is_freemail(domain) else registrable_domain(domain)
    role_address = is_role_address(local_part)
    reasons: list[str] = []
    if form_email and address == form_email[0].strip().lower() != mail.from_address.lower():
        reasons.append(f"email from form line {form_email[1]} (sent by {mail.from_address})")
    enquiry, signature = split_reply(text, sender_name=mail.from_name)
    sig = read_signature(signature, phone_region(domain), mail.from_name)

    # Name: display name, else the signature, else a "jane.doe" local part.
    first, last = "", ""
    display = person_from_display(mail.from_name, local_part, company_domain)
    form_name = _form_name(form)
    if form_name is not None:
        (first, last), line_no = form_name
        reasons.append(f"name from form line {line_no}")
    elif any(display):
        first, last = display
        reasons.append(f"name from display name {mail.from_name.strip()!r}")
        if sig.name and not (first and last):
            # "Connor, Sarah" unquoted in From reads as "Sarah": the signature has the rest.
            (sig_first, sig_last), line_no = sig.name
            if (first or last).lower() in (sig_first.lower(), sig_last.lower()):
                first, last = sig_first, sig_last
                reasons.append(f"full name from signature line {line_no}")
    elif sig.name:
        (first, last), line_no = sig.name
        reasons.append(f"name from signature line {line_no}")
    elif not role_address and (from_local := person_from_local_part(local_part)):
        first, last = from_local
        reasons.append(f"name from address {local_part}@")
    elif role_address:
        reasons.append(f"no name: {local_part}@ is a role address")

    company = ""
    if form and (found_company := form.get("company")):
        company, line_no = found_company
        reasons.append(f"company from form line {line_no}")
    elif sig.company:
        company, line_no = sig.company
        reasons.append(f"company from signature line {line_no}")
    elif company_domain:
        company = company_from_domain(company_domain)
        if company:
            reasons.append(f"company from domain {company_domain}")
    elif domain:
        reasons.append(f"no company: {registrable_domain(domain)} is a free-mail domain")

    title = ""
    if form and (found_title := form.get("title")):
        title, line_no = found_title
        reasons.append(f"title from form line {line_no}")
    elif sig.title:
        title, line_no = sig.title
        reasons.append(f"title from signature line {line_no}")

    phone = ""
    if form and (found_phone := form.get("phone")):
        form_country = form.get("country")
        region = form_country[0] if form_country else phone_region(domain)
        phone = find_phone(found_phone[0], region, strict=False) or found_phone[0]
        reasons.append(f"phone from form line {found_phone[1]}")
    elif sig.phone:
        phone, line_no = sig.phone
        reasons.append(f"phone from signature line {line_no}")
    elif found := find_phone(enquiry, phone_region(domain), strict=True):
        phone = found
        reasons.append("phone from message body")

    website = ""
    if form and (found_site := form.get("website")):
        website, line_no = found_site
        if not website.startswith(("http://", "https://")):
            website = f"https://{website}"
        reasons.append(f"website from form line {line_no}")
    elif sig.website:
        website, line_no = sig.website
        reasons.append(f"website from signature line {line_no}")
    elif company_domain:
        website = f"https://{company_domain}"
        reasons.append(f"website from domain {company_domain}")

    more: dict[str, str] = {}
    for name in ("country", "city", "industry", "company_size"):
        if form and (found_more := form.get(name)):
            more[name] = found_more[0]
            reasons.append(f"{name.replace('_', ' ')} from form line {found_more[1]}")

    return LeadDraft(
        **more,
        email=address,
        first_name=first,
        last_name=last,
        company=company,
        title=title,
        phone=phone,
        website=website,
        enquiry=_trim(enquiry, MAX_ENQUIRY_CHARS),
        signature=signature,
        reasons=tuple(reasons),
    )


def _form_name(form: FormFields | None) -> tuple[tuple[str, str], int] | None:
    """(first, last) and the line from a form's First/Last name or Name fields."""
    if form is None:
        return None
    first, last = form.get("first_name"), form.get("last_name")
    if first is not None or last is not None:
        line_no = first[1] if first is not None else last[1] if last is not None else 0
        return ((first[0] if first else "", last[0] if last else ""), line_no)
    if whole := form.get("name"):
        return split_person_name(whole[0]), whole[1]
    return None


def split_reply(text: str, sender_name: str = "") -> tuple[str, str]:
    """(new text without quoted history, signature). `sender_name` helps find an unsigned name."""
    return split_signature(new_text_lines(text), sender_name)


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", limit - 40)
    return (cut[:space] if space > 0 else cut).rstrip()
