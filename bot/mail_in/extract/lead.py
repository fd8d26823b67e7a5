"""Lead fields from an inbound mail: who wrote, for which company, and what they asked.

`extract_lead` reads only the decoded `InboundMail` (no parser, no storage). The enquiry is the
new text of the message: `split_reply` cuts quoted history (bot/mail_in/extract/quotes.py) and
splits off the signature (signature.py), which is then read line by line; names, companies
(names.py) and phones (phones.py) are found there or, failing that, in the display name, the
address and the body. Every field found records how it was found in `LeadDraft.reasons`, so
`leadbot lead why` can say it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.leads.freemail import (
    company_from_domain,
    is_freemail,
    is_role_address,
    registrable_domain,
)
from bot.mail_in.extract.names import person_from_display, person_from_local_part
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
    enquiry: str = ""  # the new text of the message: no quoted history, no signature
    signature: str = ""  # the signature block found, if any
    reasons: tuple[str, ...] = ()  # how each field was found


def extract_lead(mail: InboundMail) -> LeadDraft:
    """Read a lead out of a decoded mail: name, company, title, phone, website and enquiry."""
    address = mail.from_address.strip().lower()
    local_part, _, domain = address.rpartition("@")
    if not local_part:
        local_part, domain = address, ""
    company_domain = "" if not domain or is_freemail(domain) else registrable_domain(domain)
    role_address = is_role_address(local_part)
    reasons: list[str] = []

    text = mail.text if mail.text.strip() else html_to_text(mail.html)
    enquiry, signature = split_reply(text, sender_name=mail.from_name)
    sig = read_signature(signature, phone_region(domain), mail.from_name)

    # Name: display name, else the signature, else a "jane.doe" local part.
    first, last = "", ""
    display = person_from_display(mail.from_name, local_part, company_domain)
    if any(display):
        first, last = display
        reasons.append(f"name from display name {mail.from_name.strip()!r}")
    elif sig.name:
        (first, last), line_no = sig.name
        reasons.append(f"name from signature line {line_no}")
    elif not role_address and (from_local := person_from_local_part(local_part)):
        first, last = from_local
        reasons.append(f"name from address {local_part}@")
    elif role_address:
        reasons.append(f"no name: {local_part}@ is a role address")

    company = ""
    if sig.company:
        company, line_no = sig.company
        reasons.append(f"company from signature line {line_no}")
    elif company_domain:
        company = company_from_domain(company_domain)
        if company:
            reasons.append(f"company from domain {company_domain}")
    elif domain:
        reasons.append(f"no company: {registrable_domain(domain)} is a free-mail domain")

    title = ""
    if sig.title:
        title, line_no = sig.title
        reasons.append(f"title from signature line {line_no}")

    phone = ""
    if sig.phone:
        phone, line_no = sig.phone
        reasons.append(f"phone from signature line {line_no}")
    elif found := find_phone(enquiry, phone_region(domain), strict=True):
        phone = found
        reasons.append("phone from message body")

    website = ""
    if sig.website:
        website, line_no = sig.website
        reasons.append(f"website from signature line {line_no}")
    elif company_domain:
        website = f"https://{company_domain}"
        reasons.append(f"website from domain {company_domain}")

    return LeadDraft(
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


def split_reply(text: str, sender_name: str = "") -> tuple[str, str]:
    """(new text without quoted history, signature). `sender_name` helps find an unsigned name."""
    return split_signature(new_text_lines(text), sender_name)


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", limit - 40)
    return (cut[:space] if space > 0 else cut).rstrip()
