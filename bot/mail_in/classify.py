"""Tell what kind of inbound mail this is (person, auto-reply, bounce, complaint, unsubscribe).

Each rule below answers one question about the message and, when the answer is yes, says why in
a short reason. `RULES` asks them in order, one tuple read at a glance: complaints first (they
often look like bounces), then reports that nothing failed, then bounces (many carry
`Auto-Submitted` too), then auto-replies, then unsubscribe requests; a message no rule claims was
written by a person. For a bounce or a complaint, `bounced_recipients` / `complaining_recipients`
say which addresses it is about. Only `InboundMail` is read, never the parser.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from bot.mail_in.message import InboundMail, MailPart


class Kind(StrEnum):
    """What kind of inbound mail this is, decided from the message alone."""

    MESSAGE = "message"  # written by a person: an enquiry or a reply (the store decides which)
    AUTO_REPLY = "auto_reply"  # out-of-office, autoresponder (RFC 3834), "delivered" notices
    BOUNCE = "bounce"  # delivery failure or delay report (RFC 3464 and vendor formats)
    COMPLAINT = "complaint"  # abuse / feedback-loop report (ARF, RFC 5965)
    UNSUBSCRIBE = "unsubscribe"  # a person asking to be taken off the list


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: str  # why, for people: "Auto-Submitted: auto-replied"
    bounced: tuple[str, ...] = ()  # BOUNCE/COMPLAINT: failed or complaining recipients, lower-case
    permanent: bool = True  # BOUNCE: False for a delay or temporary (4.x.x) failure


Rule = Callable[[InboundMail], str | None]


def classify(mail: InboundMail) -> Classification:
    for kind, rule in RULES:
        reason = rule(mail)
        if reason is None:
            continue
        if kind is Kind.BOUNCE:
            return Classification(kind, reason, bounced_recipients(mail), is_permanent(mail))
        if kind is Kind.COMPLAINT:
            return Classification(kind, reason, complaining_recipients(mail))
        return Classification(kind, reason)
    return Classification(Kind.MESSAGE, "no sign of automatic mail")


# --- patterns ------------------------------------------------------------------------------------

ADDRESS = re.compile(  # bounded, so a long run without "@" costs linear time
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}"
)
REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?([\w-]+)", re.I)
SUCCESS_ACTIONS = {"delivered", "relayed", "expanded", "deliverable"}
DELIVERY_STATUS_TYPES = {"message/delivery-status", "message/global-delivery-status"}
ORIGINAL_MESSAGE_TYPES = {
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
}
MAILER_DAEMON_NAMES = re.compile(
    r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|mail[-_. ]delivery[-_. ](?:sub)?system)$", re.I
)
SYSTEM_SENDER_NAMES = re.compile(
    r"^(?:post[-_]?master|mailer|mail[-_. ]?administrator|mail[-_. ]?system|"
    r"(?:mmsc )?ndr administrator|system administrator|microsoft outlook)$",
    re.I,
)
BOUNCE_SUBJECT = re.compile(
    r"^[\W_]*(?:\[postmaster\]\s*)?(?:"
    r"undeliver(?:ed|able)|non[- ]?deliver(?:y|able)|"
    r"(?:mail |e-?mail )?delivery (?:status notification|status\b|notification|has failed|"
    r"failed|failure)|(?:permanent |mail |e-?mail )?delivery failure|"
    r"failed delivery|failure delivery|failure notice|returned mail|mail returned|"
    r"message delivery has failed|(?:mail|message) could not be delivered|"
    r"mail system error|mail failure|mail failed|"
    r"warning:? could not send|warning--could not send|warning: message [^:]{1,80} delayed|"
    r"delayed mail|there was an error sending your mail|notice: mail delivery status|"
    r"message you sent blocked|"
    r"メールエラー|メール送信エラー|メッセージを配信できません|配信不能|配信エラー|送信エラー|不達"
    r")",
    re.I,
)
SMTP_ERROR = re.compile(
    r"(?<![\w.])(?:[45][0-7]\d(?:[ -]+[45]\.\d{1,3}\.\d{1,3}(?![.\d])|[ -]+[A-Za-z<])"
    r"|[45]\.[0-7]\.\d{1,3}(?![.\d]))"
)
FAILURE_TEXT = re.compile(
    r"could ?n[o']t be delivered|(?:was|were) not delivered|undeliverable|"
    r"did not reach|permanent(?:ly)? (?:fatal )?error|delivery (?:has )?failed|"
    r"(?:user|recipient|address|mailbox) (?:unknown|not found|rejected|unavailable|is full)|"
    r"no such (?:user|recipient|mailbox)|unable to deliver|failed to deliver|"
    r"returned to sender|message could not be sent|配信できません|送信できませんでした",
    re.I,
)
DSN_FIELD = re.compile(
    r"^[> \t]*(final-recipient|original-recipient|action|status)[ \t]*:[ \t]*(.+)$", re.I | re.M
)
AUTO_REPLY_SUBJECT = re.compile(  # the phrase opens the subject and is followed by ":" or the like
    r"^[\W_]*(?:"
    r"out of (?:the )?office(?: auto[- ]?reply)?|away from (?:the )?office|"
    r"auto(?:matic|mated)?[- ]?(?:reply|replied|respon(?:se|s|der))|"
    r"vacation (?:reply|notice|message)|autosvar|automatisk (?:svar|besked)|"
    r"abwesenheit(?:snotiz|smeldung|snachricht)?|automatische (?:antwort|rückantwort)|"
    r"nicht im büro|abwesend|"
    r"r[ée]ponse automatique|absence du bureau|message d'absence|"
    r"respuesta autom[áa]tica|fuera de (?:la )?oficina|ausente|"
    r"automatisch antwoord|afwezig|niet aanwezig|buiten kantoor|"
    r"risposta automatica|fuori (?:sede|ufficio)|assente|"
    r"resposta autom[áa]tica|fora do escritório|ausência|"
    r"自動応答|自動返信|不在|休暇|自动回复|автоответ|автоматический ответ|"
    r"automatyczna odpowiedź|poza biurem"
    r")(?=\s*(?:$|[:(!.,|/\-\u2013\u2014\uff1a])|\s+(?:until|till|back|returning|bis|zurück|"
    r"jusqu|de retour|hasta|tot|fino|até)\b)",
    re.I,
)
UNSUBSCRIBE_WORDS = re.compile(
    r"^(?:please |bitte |por favor |s'il vous plaît |svp |per favore |graag )?(?:"
    r"unsubscribe(?: me)?|remove(?: me)?|stop|opt[- ]?out|take me off(?: your| the)? list|"
    r"(?:unsubscribe|remove) me from (?:your|the|this) (?:mailing |e-?mail )?list|"
    r"stop (?:sending|e-?mailing|mailing) me(?: e-?mails?| these e-?mails?| messages)?|"
    r"no more (?:e-?mails?|mails?)|"
    r"abmelden|austragen|abbestellen|désabonner|désinscrire|se désabonner|désinscription|"
    r"darse de baja|dar de baja|baja|cancelar suscripción|"
    r"afmelden|uitschrijven|disiscrivimi|cancellami|cancella iscrizione|"
    r"descadastrar|cancelar inscrição|配信停止|退订"
    r")(?: please| bitte| danke| thanks| thank you)?$",
    re.I,
)
REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw|fw|fwd|wg|tr|rv)\s*:\s*)+", re.I)
QUOTE_START = re.compile(
    r"^(?:>|-{2,}\s*original message|on .{1,200}wrote:$|am .{1,200}schrieb|le .{1,200}a écrit|"
    r"from:\s|de:\s|von:\s|sent from my)",
    re.I,
)
SOFT_FAILURE = re.compile(
    r"\bdelayed\b|\(delay\)|\bdeferred\b|will (?:be )?retr(?:y|ied)|still being retried|"
    r"will (?:continue|keep) (?:to )?try|could not send (?:mail|message) for (?:the )?past|"
    r"has not yet been delivered|not been delivered yet|"
    r"temporar(?:y|ily) (?:failure|problem|error)",
    re.I,
)
HARD_SMTP_ERROR = re.compile(r"(?<![\w.])5[0-7]\d[ -]+(?:5\.\d{1,3}\.\d{1,3}(?![.\d])|<|[A-Za-z])")
SOFT_SMTP_ERROR = re.compile(r"(?<![\w.])4[0-7]\d[ -]+4\.\d{1,3}\.\d{1,3}(?![.\d])")
NOT_RECIPIENT_LINE = re.compile(
    r"^[> \t]*(?:from|sender|reply-to|return-path|message-id|in-reply-to|references|received|"
    r"by|id|with|envelope-from|x-[\w-]+|dkim-signature|authentication-results|arc-[\w-]+|"
    r"mail from|reporting-mta|received-from-mta|list-[\w-]+|errors-to)\b",
    re.I,
)
SERVICE_LOCAL_PARTS = re.compile(
    r"^(?:mailer[-_.]?daemon|post[-_]?master|abuse|no-?reply|do-?not-?reply|noreply|bounces?|"
    r"root|www-data|nobody)$",
    re.I,
)
ORIGINAL_COPY = re.compile(  # where a vendor's text starts quoting the original message
    r"^[> \t]*(?:(?:received|return-path|dkim-signature|authentication-results|arc-[\w-]+|"
    r"x-received):|-*[ \t]*(?:original message follows|original message headers|"
    r"message headers follow|unsent message follows|the header of the original message|"
    r"(?:below this line is |enclosed is |included is |this is )?a copy of (?:the|your) message))",
    re.I | re.M,
)
HEADER_LINE = re.compile(r"^[> \t]*[\w-]+:")
LISTED_ADDRESS = re.compile(r"^[ \t>\"'<(]*(" + ADDRESS.pattern + ")")
MESSAGE_ID = re.compile(r"message[- ]?id", re.I)
MAX_SCAN_CHARS = 60_000


# --- complaint rules -----------------------------------------------------------------------------


def feedback_report(mail: InboundMail) -> str | None:
    if _report_type(mail) == "feedback-report":
        return "multipart/report; report-type=feedback-report"
    if any(_type_of(part) == "message/feedback-report" for part in mail.parts):
        return "message/feedback-report part"
    return None


def hotmail_complaint(mail: InboundMail) -> str | None:
    """Outlook.com's JMRP: the original attached, naming the complainant in a header of its own."""
    for part in _original_parts(mail):
        if "x-hmxmroriginalrecipient:" in part.text.lower():
            return "Outlook.com complaint (X-HmXmrOriginalRecipient)"
    return None


def mailbox_provider_unsubscribe(mail: InboundMail) -> str | None:
    """Apple Mail's one-click opt-out, which mailbox providers report like an ARF opt-out."""
    if mail.header("x-apple-unsubscribe").strip().lower() == "true":
        return "X-Apple-Unsubscribe: true (opt-out report)"
    return None


def ses_complaint_notification(mail: InboundMail) -> str | None:
    if '"notificationType":"Complaint"' in _compact(mail.text):
        return "Amazon SES complaint notification"
    return None


# --- notices that nothing failed ---------------------------------------------------------------


def delivery_success_report(mail: InboundMail) -> str | None:
    """A delivery-status report in which every recipient was delivered, relayed or expanded."""
    actions = _dsn_values(mail, "action")
    if actions and all(action in SUCCESS_ACTIONS for action in actions):
        return f"delivery-status report, Action: {', '.join(sorted(set(actions)))}"
    return None


def ses_delivery_notification(mail: InboundMail) -> str | None:
    """Amazon SES says a message was delivered: automatic mail, and nothing failed."""
    if '"notificationType":"Delivery"' in _compact(mail.text):
        return "Amazon SES delivery notification"
    return None


# --- bounce rules --------------------------------------------------------------------------------


def delivery_status_report(mail: InboundMail) -> str | None:
    if _report_type(mail) == "delivery-status":
        return "multipart/report; report-type=delivery-status"
    for part in mail.parts:
        if _type_of(part) in DELIVERY_STATUS_TYPES:
            return f"{_type_of(part)} part"
    return None


def failed_recipients_header(mail: InboundMail) -> str | None:
    value = mail.header("x-failed-recipients")
    return f"X-Failed-Recipients: {value}" if value else None


def mailer_daemon_sender(mail: InboundMail) -> str | None:
    local_part = mail.from_address.split("@")[0]
    if MAILER_DAEMON_NAMES.match(local_part) or MAILER_DAEMON_NAMES.match(mail.from_name):
        return f"sent by {mail.from_address or mail.from_name}"
    return None


def bounce_subject_with_evidence(mail: InboundMail) -> str | None:
    """A typical bounce subject, and the message is not from a person or carries a mailer error."""
    if not BOUNCE_SUBJECT.match(mail.subject):
        return None
    evidence = (
        (_is_system_sender(mail) and f"from {mail.from_address or mail.from_name}")
        or (_has_null_sender(mail) and "null sender <>")
        or (_original_parts(mail) and "original message attached")
        or (SMTP_ERROR.search(_report_text(mail)) and "SMTP error in the text")
    )
    return f"subject {mail.subject[:60]!r}, {evidence}" if evidence else None


def system_sender_with_smtp_error(mail: InboundMail) -> str | None:
    """postmaster@ (or the like) quoting an SMTP error: a vendor bounce with its own subject."""
    if _is_system_sender(mail) and SMTP_ERROR.search(_report_text(mail)):
        return f"from {mail.from_address or mail.from_name}, SMTP error in the text"
    return None


def failure_report_with_original(mail: InboundMail) -> str | None:
    """An automatic sender returning the original message with a delivery-failure text."""
    automatic = _has_null_sender(mail) or _is_system_sender(mail) or _is_noreply_sender(mail)
    if automatic and _original_parts(mail) and FAILURE_TEXT.search(_report_text(mail)):
        return "delivery-failure text with the original message attached"
    return None


def system_sender_without_text(mail: InboundMail) -> str | None:
    """postmaster@ (or the like) and no readable text: a vendor bounce the parser could not open."""
    unreadable = not (mail.text.strip() or mail.html.strip() or mail.parts)
    if _is_system_sender(mail) and unreadable:
        return f"from {mail.from_address or mail.from_name}, no readable text"
    return None


def forwarded_delivery_report(mail: InboundMail) -> str | None:
    """Someone forwarded a bounce: the delivery-status fields are in the text."""
    fields = {name.lower() for name, _ in DSN_FIELD.findall(_scan(mail.text))}
    if "final-recipient" in fields and {"action", "status"} & fields:
        return "delivery-status fields (Final-Recipient, Action) in the text"
    return None


def ses_bounce_notification(mail: InboundMail) -> str | None:
    if '"notificationType":"Bounce"' in _compact(mail.text):
        return "Amazon SES bounce notification"
    return None


def mailing_list_refusal(mail: InboundMail) -> str | None:
    """A list server (fml, ezmlm…) refusing the message: not a member, mail loop."""
    list_server = mail.has_header("x-mlserver") or mail.has_header("mailing-list")
    refused = re.search(r"\bnot (?:a )?member\b|\bloop alert\b", mail.subject, re.I)
    is_admin = re.search(r"-(?:admin|owner|request)@", mail.from_address, re.I)
    if list_server and refused and is_admin:
        return f"list server refusal: {mail.subject[:60]!r}"
    return None


# --- auto-reply rules ----------------------------------------------------------------------------


def auto_submitted_header(mail: InboundMail) -> str | None:
    value = mail.header("auto-submitted").strip()
    keyword = re.split(r"[\s;(]", value.lower(), maxsplit=1)[0] if value else ""
    if keyword and keyword != "no":
        return f"Auto-Submitted: {value}"
    return None


def autoresponder_header(mail: InboundMail) -> str | None:
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autoreply-from"):
        if mail.has_header(name) and mail.header(name).strip().lower() not in ("no", "false"):
            return f"{name}: {mail.header(name)}".strip()
    if mail.header("x-apple-action").strip().upper() == "VACATION":
        return "X-Apple-Action: VACATION"
    return None


def precedence_header(mail: InboundMail) -> str | None:
    """Precedence: auto_reply alone; bulk or junk only with another sign of an automatic reply."""
    value = mail.header("precedence").strip().lower()
    if value == "auto_reply":
        return "Precedence: auto_reply"
    if value in ("bulk", "junk"):
        other_sign = (_has_null_sender(mail) and "null sender <>") or (
            mail.has_header("x-auto-response-suppress") and "X-Auto-Response-Suppress"
        )
        if other_sign:
            return f"Precedence: {value} with {other_sign}"
    return None


def auto_reply_subject(mail: InboundMail) -> str | None:
    if AUTO_REPLY_SUBJECT.match(mail.subject):
        return f"subject {mail.subject[:60]!r}"
    return None


# --- unsubscribe rules ---------------------------------------------------------------------------


def unsubscribe_request(mail: InboundMail) -> str | None:
    """Subject or first line says "unsubscribe" (or the like), and the message is short."""
    written = _written_text(mail)
    if len(written) > 300:
        return None
    subject = _bare_words(REPLY_PREFIX.sub("", mail.subject))
    if UNSUBSCRIBE_WORDS.match(subject):
        return f"subject {mail.subject[:60]!r}"
    first_line = _bare_words(written.split("\n", 1)[0]) if written else ""
    if UNSUBSCRIBE_WORDS.match(first_line):
        return f"first line {first_line[:60]!r}"
    return None


RULES: tuple[tuple[Kind, Rule], ...] = (
    (Kind.COMPLAINT, feedback_report),
    (Kind.COMPLAINT, hotmail_complaint),
    (Kind.COMPLAINT, ses_complaint_notification),
    (Kind.COMPLAINT, mailbox_provider_unsubscribe),
    (Kind.AUTO_REPLY, delivery_success_report),
    (Kind.AUTO_REPLY, ses_delivery_notification),
    (Kind.BOUNCE, delivery_status_report),
    (Kind.BOUNCE, failed_recipients_header),
    (Kind.BOUNCE, mailer_daemon_sender),
    (Kind.BOUNCE, bounce_subject_with_evidence),
    (Kind.BOUNCE, system_sender_with_smtp_error),
    (Kind.BOUNCE, failure_report_with_original),
    (Kind.BOUNCE, system_sender_without_text),
    (Kind.BOUNCE, forwarded_delivery_report),
    (Kind.BOUNCE, ses_bounce_notification),
    (Kind.BOUNCE, mailing_list_refusal),
    (Kind.AUTO_REPLY, auto_submitted_header),
    (Kind.AUTO_REPLY, autoresponder_header),
    (Kind.AUTO_REPLY, precedence_header),
    (Kind.AUTO_REPLY, auto_reply_subject),
    (Kind.UNSUBSCRIBE, unsubscribe_request),
)


# --- what a bounce or complaint is about ---------------------------------------------------------


def bounced_recipients(mail: InboundMail) -> tuple[str, ...]:
    """The failed recipients, from the most to the least reliable source that names any."""
    sources: tuple[Callable[[InboundMail], Iterable[str]], ...] = (
        _delivery_status_recipients,
        _failed_recipients_header,
        _ses_recipients,
        _forwarded_report_recipients,
        _listed_recipients,
        _named_recipients,
        _original_recipients,
        _copied_original_recipients,
        _named_service_recipients,
    )
    for source in sources:
        found = _unique(source(mail))
        if found:
            return found
    return ()


def complaining_recipients(mail: InboundMail) -> tuple[str, ...]:
    """Who complained: the report's Original-Rcpt-To, else the To of the attached original."""
    found: list[str] = []
    for part in mail.parts:
        if _type_of(part) == "message/feedback-report":
            found += _field_addresses(part.text, ("original-rcpt-to", "removal-recipient"))
    for part in _original_parts(mail):
        found += _field_addresses(part.text, ("x-hmxmroriginalrecipient",))
    found += re.findall(r'"emailAddress":"([^"]+)"', _compact(mail.text))
    if not found:
        found = list(_original_recipients(mail))
    if not found and mailbox_provider_unsubscribe(mail):
        found = [mail.from_address]
    return _unique(found)


def is_permanent(mail: InboundMail) -> bool:
    """False when the report is about a delay or a temporary (4.x.x) failure."""
    actions, codes = _dsn_values(mail, "action"), _dsn_values(mail, "status")
    if codes or actions:
        return any(code.startswith("5") for code in codes) or (
            "failed" in actions and not any(code.startswith("4") for code in codes)
        )
    if SOFT_FAILURE.search(mail.subject):
        return False
    text = _report_text(mail)
    copy_starts = ORIGINAL_COPY.search(text)
    text = text[: copy_starts.start() if copy_starts else None]
    if HARD_SMTP_ERROR.search(text):
        return True
    return not (SOFT_FAILURE.search(text) or SOFT_SMTP_ERROR.search(text))


# --- helpers -------------------------------------------------------------------------------------


def _type_of(part: MailPart) -> str:
    """The bare MIME type; a broken header can leave parameters or line breaks in it."""
    words = part.content_type.split(";")[0].split()
    return words[0].lower() if words else ""


def _report_type(mail: InboundMail) -> str:
    if mail.content_type != "multipart/report":
        return ""
    found = REPORT_TYPE.search(mail.header("content-type"))
    return found.group(1).lower() if found else ""


def _original_parts(mail: InboundMail) -> list[MailPart]:
    return [part for part in mail.parts if _type_of(part) in ORIGINAL_MESSAGE_TYPES]


def _status_texts(mail: InboundMail) -> list[str]:
    texts = [part.text for part in mail.parts if _type_of(part) in DELIVERY_STATUS_TYPES]
    if not texts and forwarded_delivery_report(mail):
        texts = [_scan(mail.text)]
    return texts


def _dsn_values(mail: InboundMail, field: str) -> list[str]:
    """First word of each `field` (action, status) in the delivery-status fields, lower-case."""
    return [
        value.split()[0].lower()
        for text in _status_texts(mail)
        for name, value in DSN_FIELD.findall(text)
        if name.lower() == field and value.split()
    ]


def _is_system_sender(mail: InboundMail) -> bool:
    local_part = mail.from_address.split("@")[0]
    return any(
        pattern.match(name)
        for pattern in (MAILER_DAEMON_NAMES, SYSTEM_SENDER_NAMES)
        for name in (local_part, mail.from_name)
        if name
    )


def _is_noreply_sender(mail: InboundMail) -> bool:
    return bool(re.match(r"^(?:no-?reply|do-?not-?reply)$", mail.from_address.split("@")[0], re.I))


def _has_null_sender(mail: InboundMail) -> bool:
    return mail.envelope_sender.strip() == "<>" or mail.header("return-path").strip() == "<>"


def _scan(text: str) -> str:
    return text[:MAX_SCAN_CHARS]


def _compact(text: str) -> str:
    """Amazon SES/SNS JSON without blanks, unescaped once (SNS wraps SES's JSON in a string)."""
    if "notificationType" not in text:
        return ""
    return re.sub(r"\s+", "", _scan(text)).replace('\\"', '"')


def _report_text(mail: InboundMail) -> str:
    """The human-readable report: the text parts before the attached original message."""
    texts: list[str] = []
    for part in mail.parts:
        if _type_of(part) in ORIGINAL_MESSAGE_TYPES:
            break
        if _type_of(part) == "text/plain":
            texts.append(part.text)
        elif _type_of(part) == "text/html" and not texts:
            texts.append(_html_to_text(part.text))
    return _scan("\n".join(texts) if texts else mail.text or _html_to_text(mail.html))


def _html_to_text(markup: str) -> str:
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", _scan(markup))
    text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|tr|li|h\d)>", "\n", text)
    text = re.sub(r"<[^<>]{0,2000}>", " ", text)
    return html.unescape(text)


def _written_text(mail: InboundMail) -> str:
    """What the person wrote: the text before any quoted message, trimmed."""
    lines: list[str] = []
    for line in (mail.text or _html_to_text(mail.html))[:5000].splitlines():
        stripped = line.strip()
        if QUOTE_START.match(stripped):
            break
        if stripped:
            lines.append(stripped)
    return "\n".join(lines)


def _bare_words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s'-]", " ", text.lower()).split())


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for address in addresses:
        cleaned = address.strip().strip("<>.,;:'\"()[]").lower()
        if "@" in cleaned and not cleaned.startswith("@"):
            seen.setdefault(cleaned, None)
    return tuple(seen)


def _addresses(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if "@" in line:
            yield from ADDRESS.findall(line)


def _field_addresses(text: str, names: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() in names:
            found += _addresses(value)
    return found


def _delivery_status_recipients(mail: InboundMail) -> list[str]:
    """Final-Recipient of each delivery-status part, else Original-Recipient."""
    texts = [part.text for part in mail.parts if _type_of(part) in DELIVERY_STATUS_TYPES]
    final = [address for text in texts for address in _field_addresses(text, ("final-recipient",))]
    return final or [
        address for text in texts for address in _field_addresses(text, ("original-recipient",))
    ]


def _failed_recipients_header(mail: InboundMail) -> list[str]:
    return [
        address
        for value in mail.headers.get("x-failed-recipients", ())
        for address in _addresses(value)
    ]


def _ses_recipients(mail: InboundMail) -> list[str]:
    compact = _compact(mail.text)
    found = re.search(r'"bouncedRecipients":\[(.*?)\]', compact)
    return re.findall(r'"emailAddress":"([^"]+)"', found.group(1)) if found else []


def _forwarded_report_recipients(mail: InboundMail) -> list[str]:
    if not forwarded_delivery_report(mail):
        return []
    return [
        address
        for name, value in DSN_FIELD.findall(_scan(mail.text))
        if name.lower() == "final-recipient"
        for address in _addresses(value)
    ]


def _report_lines(mail: InboundMail) -> list[str]:
    """The vendor's text lines that may name recipients (not its copy of the original's headers)."""
    text = _report_text(mail)
    copy_starts = ORIGINAL_COPY.search(text)
    return [
        line
        for line in text[: copy_starts.start() if copy_starts else None].splitlines()
        if "@" in line and not NOT_RECIPIENT_LINE.match(line) and not MESSAGE_ID.search(line)
    ]


def _listed_recipients(mail: InboundMail) -> list[str]:
    """Addresses the text lists one per line, the way most MTAs name the failed recipients."""
    found: list[str] = []
    for line in _report_lines(mail):
        listed = LISTED_ADDRESS.match(line)
        if listed and listed.group(1).lower() != mail.from_address.lower():
            found.append(listed.group(1))
    return found


def _named_recipients(mail: InboundMail) -> list[str]:
    """Addresses the text names anywhere, less the sender side and the servers' own."""
    not_failed = _sender_side(mail)
    return [
        address
        for line in _report_lines(mail)
        for address in ADDRESS.findall(line)
        if address.lower() not in not_failed
        and not SERVICE_LOCAL_PARTS.match(address.split("@")[0])
    ]


def _copied_original_recipients(mail: InboundMail) -> list[str]:
    """The To of the original when the vendor pasted its headers into the text."""
    text = _report_text(mail)
    copy_starts = ORIGINAL_COPY.search(text)
    if not copy_starts:
        return []
    lines = text[copy_starts.start() :].splitlines()
    if not HEADER_LINE.match(lines[0]):
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    header_block = "\n".join(itertools.takewhile(str.strip, lines))
    return _field_addresses(header_block, ("to",))


def _named_service_recipients(mail: InboundMail) -> list[str]:
    """Last resort: a service address (postmaster@…) the text names as the failed one."""
    not_failed = _sender_side(mail)
    return [
        address
        for line in _report_lines(mail)
        for address in ADDRESS.findall(line)
        if address.lower() not in not_failed
    ]


def _sender_side(mail: InboundMail) -> set[str]:
    """Addresses that are not the failed recipient: the bounce's own and the original sender's."""
    side = {mail.from_address, *mail.to, *mail.cc, *mail.envelope_recipients}
    for part in _original_parts(mail):
        side.update(_field_addresses(part.text, ("from", "sender", "reply-to", "return-path")))
    return {address.lower() for address in side if address}


def _original_recipients(mail: InboundMail) -> list[str]:
    found: list[str] = []
    for part in _original_parts(mail):
        found += _field_addresses(part.text, ("to",))
        if found:
            break
    return found
