"""Inbound mail classification, on the shared real-world corpora and on small hand-made mails."""

from __future__ import annotations

import dataclasses
import functools
from email.message import EmailMessage
from typing import Any

import pytest

from bot.mail_in.classify import Classification, Kind, classify
from bot.mail_in.decode import UndecodableMail, decode_mail
from bot.mail_in.message import InboundMail, MailPart
from tests.corpora import CORPORA, mail_files

MAIL = CORPORA / "mail"
UNDECODABLE = {"sisimai/bsd/lhost-sendgrid-01.eml", "sisimai/bsd/lhost-sendgrid-02.eml"}
ORDINARY_CORPORA = ("mail-parser", "imap_tools", "talon", "email_reply_parser")


@functools.cache
def corpus(subdir: str) -> dict[str, Classification]:
    """Every mail of a corpus folder, decoded and classified once, by its path under mail/."""
    found: dict[str, Classification] = {}
    for path in mail_files(subdir):
        name = path.relative_to(MAIL).as_posix()
        if name in UNDECODABLE:
            continue
        found[name] = classify(decode_mail(path.read_bytes()))
    return found


def classified(name: str) -> Classification:
    return classify(decode_mail((MAIL / name).read_bytes()))


def kinds_that_differ(found: dict[str, Classification], expected: dict[str, Kind]) -> list[str]:
    return [
        f"{name}: {result.kind} ({result.reason}), expected {expected[name]}"
        for name, result in found.items()
        if result.kind != expected[name]
    ]


# --- the corpora ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UNDECODABLE))
def test_the_two_sendgrid_mails_do_not_decode(name: str) -> None:
    with pytest.raises(UndecodableMail):
        decode_mail((MAIL / name).read_bytes())


# sisimai files whose kind is not what their folder says, and why:
SISIMAI_EXCEPTIONS = {
    # an SES *complaint* notification ("notificationType":"Complaint"), not a bounce
    "sisimai/bsd/lhost-amazonses-11.eml": Kind.COMPLAINT,
    # SES *delivery* notifications and a DSN with "Action: deliverable": nothing failed
    "sisimai/bsd/lhost-amazonses-12.eml": Kind.AUTO_REPLY,
    "sisimai/bsd/lhost-amazonses-13.eml": Kind.AUTO_REPLY,
    "sisimai/bsd/rfc3464-28.eml": Kind.AUTO_REPLY,
}


def expected_sisimai_kind(name: str) -> Kind:
    if name in SISIMAI_EXCEPTIONS:
        return SISIMAI_EXCEPTIONS[name]
    file_name = name.rsplit("/", 1)[1]
    if file_name.startswith("rfc3834-"):
        return Kind.AUTO_REPLY
    if file_name.startswith("arf-"):
        return Kind.COMPLAINT
    return Kind.BOUNCE


def test_sisimai_bsd_bounces_complaints_and_auto_replies() -> None:
    found = corpus("sisimai/bsd")
    assert len(found) == len(mail_files("sisimai/bsd")) - len(UNDECODABLE) > 600
    expected = {name: expected_sisimai_kind(name) for name in found}
    assert kinds_that_differ(found, expected) == []


def test_sisimai_err_are_all_bounces() -> None:
    found = corpus("sisimai/err")
    assert len(found) == 37
    assert kinds_that_differ(found, dict.fromkeys(found, Kind.BOUNCE)) == []


def test_sisimai_not_bounces() -> None:
    found = corpus("sisimai/not")
    assert {name: result.kind for name, result in found.items()} == {
        "sisimai/not/is-not-bounce-01.eml": Kind.MESSAGE,
        "sisimai/not/is-not-bounce-02.eml": Kind.MESSAGE,  # a forwarded message/rfc822
        # postmaster "email bounce notification" with Auto-Submitted and no report structure
        "sisimai/not/rb-issue-368-bug.eml": Kind.AUTO_REPLY,
    }


# Each of these was read: they are real delivery reports; everything else there is a person's mail.
ORDINARY_NOT_MESSAGES = {
    "imap_tools/mime_emails/raw_email_with_mimepart_without_content_type.eml": Kind.BOUNCE,
    "imap_tools/multipart_report_emails/multi_address_bounce1.eml": Kind.BOUNCE,
    "imap_tools/multipart_report_emails/multi_address_bounce2.eml": Kind.BOUNCE,
    "imap_tools/multipart_report_emails/multipart_report_multiple_status.eml": Kind.BOUNCE,
    "imap_tools/multipart_report_emails/report_422.eml": Kind.BOUNCE,
    "imap_tools/multipart_report_emails/report_530.eml": Kind.BOUNCE,
    "mail-parser/mail_malformed_2": Kind.BOUNCE,
}


@pytest.mark.parametrize("subdir", ORDINARY_CORPORA)
def test_ordinary_mail_is_message_except_the_known_reports(subdir: str) -> None:
    found = corpus(subdir)
    assert len(found) > 10
    expected = {name: ORDINARY_NOT_MESSAGES.get(name, Kind.MESSAGE) for name in found}
    assert kinds_that_differ(found, expected) == []


def test_every_listed_report_exists() -> None:
    listed = set(ORDINARY_NOT_MESSAGES) | set(SISIMAI_EXCEPTIONS) | UNDECODABLE
    assert [name for name in sorted(listed) if not (MAIL / name).is_file()] == []


# Read in each mail: the address its report says could not be reached.
BOUNCED = {
    # RFC 3464 reports (Final-Recipient)
    "sisimai/bsd/lhost-postfix-02.eml": ("filtered@example.co.jp", "userunknown@example.co.jp"),
    "sisimai/bsd/lhost-sendmail-41.eml": (
        "this-local-part-does-not-exist@yahoo.com",
        "kijitora@neko.example.com",
    ),
    "sisimai/bsd/lhost-office365-01.eml": ("kijitora@example.com",),
    "sisimai/bsd/lhost-amazonses-02.eml": (
        "this-local-part-does-not-exist-on-the-server@docomo.ne.jp",
    ),
    "sisimai/bsd/rhost-outlook-04.eml": ("sabineko@example.co.jp", "mikeneko@example.co.jp"),
    "imap_tools/multipart_report_emails/multipart_report_multiple_status.eml": ("u@ci.com",),
    "imap_tools/multipart_report_emails/report_530.eml": ("edwin@zzzzzzz.com",),
    # X-Failed-Recipients (Exim, Gmail, Google Groups, Mail.ru)
    "sisimai/bsd/lhost-exim-02.eml": ("kijitora@example.jp", "sabatora@example.jp"),
    "sisimai/bsd/lhost-gmail-04.eml": ("kijitora@example.com",),
    "sisimai/bsd/lhost-googlegroups-01.eml": ("libsisimai@googlegroups.com",),
    "sisimai/bsd/lhost-mailru-03.eml": ("mikeneko@example.jp", "sabineko@example.jp"),
    # the vendor's own text
    "sisimai/bsd/lhost-qmail-08.eml": ("shironeko@example.ad.jp",),
    "sisimai/bsd/lhost-qmail-21.eml": ("libgsasl7-dev@email.example.jp",),
    "sisimai/bsd/lhost-yahoo-01.eml": ("kijitora@example.org",),
    "sisimai/bsd/lhost-postfix-07.eml": ("kijitora@user.example.or.jp",),
    "sisimai/bsd/lhost-einsundeins-02.eml": ("kijitora@example.org",),
    "sisimai/bsd/lhost-gmx-03.eml": ("mikeneko@example.co.jp", "sabineko@example.co.jp"),
    "sisimai/bsd/rhost-franceptt-03.eml": ("pseudo-local-part-kijitora@wanadoo.fr",),
    "sisimai/bsd/lhost-exchange2003-02.eml": ("kijitora@example.co.jp", "mikeneko@example.co.jp"),
    "sisimai/bsd/lhost-exchange2003-03.eml": ("kijitora@example.jp",),
    "sisimai/bsd/lhost-office365-02.eml": ("kijitora@example.onmicrosoft.com",),
    "sisimai/bsd/lhost-imailserver-03.eml": ("kijitora@neko.example.co.jp",),
    "sisimai/bsd/lhost-notes-01.eml": ("kijitora@u1.example.co.jp",),
    "sisimai/bsd/lhost-mxlogic-03.eml": ("kijitora@example.co.jp",),
    "sisimai/bsd/lhost-dragonfly-01.eml": ("pseudo-local-part@google.example.com",),
    "sisimai/bsd/lhost-dragonfly-04.eml": ("postmaster@cx.libsisimai.org",),
    "sisimai/bsd/lhost-kddi-02.eml": ("kijitora@00000000000000.dion.ne.jp",),
    "sisimai/bsd/lhost-mfilter-05.eml": ("kijitora@example.co.jp",),
    "sisimai/bsd/lhost-zoho-02.eml": ("mikeneko@example.co.jp", "sabineko@example.co.jp"),
    "sisimai/bsd/lhost-x2-02.eml": (
        "kijitora@example.com",
        "mikeneko@example.com",
        "sabineko@example.com",
    ),
    "sisimai/bsd/lhost-x6-01.eml": ("kijitora@nyaan.example.org",),
    "sisimai/bsd/lhost-trendmicro-01.eml": ("kijitora@example.co.jp",),
    "sisimai/bsd/lhost-mimecast-01.eml": ("sabineko@neko.ef.example.org",),
    "sisimai/bsd/lhost-opensmtpd-01.eml": ("apdugoaidugoaidugoaeiudggadi@gmail.com",),
    "sisimai/bsd/lhost-amazonworkmail-05.eml": ("sabatora@example.libsisimai.org",),
    # the To of the attached original, or of the headers pasted into the text
    "sisimai/bsd/lhost-biglobe-01.eml": ("postmaster@mxr.biglobe.ne.jp",),
    "sisimai/bsd/lhost-v5sendmail-01.eml": ("kijitora@example.com",),
    # Amazon SES notifications (plain, and wrapped by SNS)
    "sisimai/bsd/lhost-amazonses-09.eml": ("bounce@simulator.amazonses.com",),
    "sisimai/bsd/lhost-amazonses-10.eml": ("bounce@simulator.amazonses.com",),
    # bounces forwarded by a person
    "sisimai/bsd/lhost-sendmail-14.eml": ("kijitora@example.com",),
    "sisimai/err/make-test-36.eml": ("non-existent-user-address-of-ntt-docomo@docomo.ne.jp",),
}


@pytest.mark.parametrize("name", sorted(BOUNCED))
def test_bounced_recipients(name: str) -> None:
    result = classified(name)
    assert (result.kind, result.bounced) == (Kind.BOUNCE, BOUNCED[name])


def test_the_sample_covers_many_vendors() -> None:
    vendors = {name.rsplit("/", 1)[1].rsplit("-", 1)[0] for name in BOUNCED}
    assert len(vendors) >= 15


def test_nearly_every_sisimai_bounce_names_its_recipient() -> None:
    bounces = [r for r in corpus("sisimai/bsd").values() if r.kind is Kind.BOUNCE]
    named = [r for r in bounces if r.bounced]
    rate = len(named) / len(bounces)
    print(f"bounced recipients found in {len(named)}/{len(bounces)} sisimai bounces: {rate:.1%}")
    assert rate >= 0.95
    everywhere = [a for r in bounces for a in r.bounced]
    assert all(a == a.lower() and "@" in a for a in everywhere)


@pytest.mark.parametrize(
    "name",
    [
        "sisimai/bsd/lhost-gmail-06.eml",  # Delivery Status Notification (Delay)
        "sisimai/bsd/lhost-exim-38.eml",  # Warning: message … delayed 24 hours
        "sisimai/bsd/lhost-opensmtpd-06.eml",  # Action: delayed, Status: 4.4.7
        "sisimai/bsd/lhost-outlook-06.eml",  # Delivery Status Notification (Delay)
        "sisimai/bsd/lhost-sendmail-29.eml",  # Warning: could not send message for past 4 hours
        "sisimai/bsd/rfc3464-09.eml",  # Delayed Mail (still being retried)
        "sisimai/bsd/lhost-zoho-04.eml",  # Mail Delivery Status Notification (Delay)
        "sisimai/bsd/lhost-x1-04.eml",  # Warning--Could not send mail for past 8.5 hours
        "sisimai/bsd/lhost-postfix-05.eml",  # Action: failed, but Status: 4.1.1
        "imap_tools/multipart_report_emails/report_422.eml",  # Action: delayed
    ],
)
def test_delays_and_temporary_failures_are_soft_bounces(name: str) -> None:
    result = classified(name)
    assert result.kind is Kind.BOUNCE and result.bounced
    assert result.permanent is False


@pytest.mark.parametrize(
    "name",
    [
        "sisimai/bsd/lhost-postfix-02.eml",
        "sisimai/bsd/lhost-qmail-08.eml",
        "sisimai/bsd/lhost-exim-01.eml",
        "sisimai/bsd/lhost-v5sendmail-05.eml",  # deferred for one host, User unknown for others
        "imap_tools/multipart_report_emails/report_530.eml",
    ],
)
def test_failures_are_hard_bounces(name: str) -> None:
    assert classified(name).permanent is True


@pytest.mark.parametrize(
    ("name", "complained"),
    [
        ("sisimai/bsd/arf-02.eml", ("this-local-part-does-not-exist-on-yahoo@yahoo.com",)),
        ("sisimai/bsd/arf-22.eml", ("kijitora@example.com",)),  # Outlook.com JMRP
        ("sisimai/bsd/arf-26.eml", ("example@icloud.com",)),  # Apple Mail opt-out
        ("sisimai/bsd/lhost-amazonses-11.eml", ("complaint@simulator.amazonses.com",)),
    ],
)
def test_complaints_name_who_complained(name: str, complained: tuple[str, ...]) -> None:
    result = classified(name)
    assert (result.kind, result.bounced) == (Kind.COMPLAINT, complained)


# --- hand-made mails -----------------------------------------------------------------------------


def email(
    body: str = "Hello, we need 40 robots by May. Can you quote?",
    subject: str = "Quote request",
    sender: str = "Jane Doe <jane@acme-robotics.io>",
    **headers: str,
) -> InboundMail:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "sales@leadbot.test"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return decode_mail(message.as_bytes())


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        ({"Auto_Submitted": "auto-generated"}, "Auto-Submitted: auto-generated"),
        ({"X_Autoreply": "yes"}, "x-autoreply: yes"),
        ({"X_Autorespond": "Out of office"}, "x-autorespond: Out of office"),
        ({"Precedence": "auto_reply"}, "Precedence: auto_reply"),
        ({"Precedence": "bulk", "Return_Path": "<>"}, "Precedence: bulk with null sender <>"),
        (
            {"Precedence": "junk", "X_Auto_Response_Suppress": "All"},
            "Precedence: junk with X-Auto-Response-Suppress",
        ),
    ],
)
def test_auto_reply_headers(headers: dict[str, str], reason: str) -> None:
    assert classify(email(subject="Re: Quote request", **headers)) == Classification(
        Kind.AUTO_REPLY, reason
    )


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Quote request",
        "Out of Office AutoReply: Quote request",
        "Automatic reply: Quote request",
        "Auto-Reply: Quote request",
        "Automatische Antwort: Angebot",
        "Abwesenheitsnotiz: Angebot",
        "Réponse automatique : Demande de devis",
        "Respuesta automática: Presupuesto",
        "Automatisch antwoord: Offerte",
        "Risposta automatica: Preventivo",
        "Resposta automática: Orçamento",
        "自動応答: お見積もり",
        "Out of the office until Monday",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    assert classify(email(subject=subject, body="I am away.")).kind is Kind.AUTO_REPLY


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "no"},
        {"Auto_Submitted": "No"},
        {"Precedence": "bulk"},  # newsletters: not an auto-reply on its own
        {"Precedence": "list", "List_Id": "<sales.acme-robotics.io>"},
        {"X_Autoreply": "no"},
    ],
)
def test_headers_that_do_not_make_an_auto_reply(headers: dict[str, str]) -> None:
    assert classify(email(**headers)).kind is Kind.MESSAGE


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Re: your quote", "Sorry for the delay, I was out of office last week. Yes, go ahead."),
        ("Out of office next week - can we meet today?", "Hi, I am away from Monday on."),
        ("Re: order 1234", "Our portal shows 'Delivery Status: failed' for the pallets. Why?"),
        ("Delivery status of order 1234", "Has it shipped? It says the parcel was not delivered."),
        ("Undeliverable goods", "We have 40 undeliverable robots in stock, interested?"),
        ("Stop by our booth", "We are at hall 4, booth 12, come and see us."),
        ("Re: unsubscribe", "Before you remove me: " + "we do want the catalogue. " * 20),
        ("Question", "Can you stop the shipment until Monday?"),
    ],
)
def test_people_writing_about_offices_deliveries_and_stopping_are_messages(
    subject: str, body: str
) -> None:
    result = classify(email(subject=subject, body=body))
    assert result == Classification(Kind.MESSAGE, "no sign of automatic mail")


def test_forwarded_message_with_an_attached_original_is_a_message() -> None:
    message = EmailMessage()
    message["From"] = "Jane Doe <jane@acme-robotics.io>"
    message["To"] = "sales@leadbot.test"
    message["Subject"] = "Fwd: our requirements"
    message.set_content("See the mail below from our CTO, could you quote for it?")
    original = EmailMessage()
    original["From"] = "cto@acme-robotics.io"
    original["To"] = "jane@acme-robotics.io"
    original["Subject"] = "requirements"
    original.set_content("We need 40 units.")
    message.add_attachment(original)
    assert classify(decode_mail(message.as_bytes())).kind is Kind.MESSAGE


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("unsubscribe", ""),
        ("Unsubscribe", "Thanks"),
        ("Re: Spring offers", "Unsubscribe"),
        ("Re: Spring offers", "STOP"),
        ("Re: Spring offers", "Please remove me from your mailing list.\n\nJane"),
        ("Re: Spring offers", "remove me\n\n> On Monday you wrote:\n> Spring offers..."),
        ("Opt out", ""),
        ("Re: Frühlingsangebote", "Bitte abmelden"),
        ("Désabonner", ""),
        ("Re: Ofertas", "Darse de baja"),
        ("Re: Aanbiedingen", "Afmelden"),
        ("Re: Offerte", "Cancellami"),
        ("配信停止", ""),
    ],
)
def test_unsubscribe_requests(subject: str, body: str) -> None:
    result = classify(email(subject=subject, body=body or "\n"))
    assert result.kind is Kind.UNSUBSCRIBE, result.reason


def test_a_long_mail_with_unsubscribe_in_the_subject_is_a_message() -> None:
    body = "We would like a quote for 40 robots, delivered in May. " * 10
    assert classify(email(subject="unsubscribe", body=body)).kind is Kind.MESSAGE


def bounce_mail(body: str, **fields: Any) -> InboundMail:
    """An InboundMail built directly: a MAILER-DAEMON notice unless `fields` say otherwise."""
    notice = InboundMail(
        message_id=None,
        subject="Undelivered Mail Returned to Sender",
        from_name="Mail Delivery System",
        from_address="MAILER-DAEMON@mx.leadbot.test",
        to=("sales@leadbot.test",),
        text=body,
    )
    return dataclasses.replace(notice, **fields)


def test_rfc3464_report_built_by_hand() -> None:
    mail = bounce_mail(
        "Your message could not be delivered.",
        content_type="multipart/report",
        headers={"content-type": ("multipart/report; report-type=delivery-status",)},
        parts=(
            MailPart("text/plain", "Your message could not be delivered."),
            MailPart(
                "message/delivery-status",
                "Reporting-MTA: dns; mx.leadbot.test\nFinal-Recipient: rfc822; Gone@Acme.test\n"
                "Action: failed\nStatus: 5.1.1",
            ),
            MailPart("text/rfc822-headers", "From: sales@leadbot.test\nTo: gone@acme.test"),
        ),
    )
    assert classify(mail) == Classification(
        Kind.BOUNCE, "multipart/report; report-type=delivery-status", ("gone@acme.test",), True
    )


def test_delayed_report_is_a_soft_bounce() -> None:
    mail = bounce_mail(
        "",
        subject="Delivery Status Notification (Delay)",
        parts=(
            MailPart(
                "message/delivery-status",
                "Final-Recipient: rfc822; slow@acme.test\nAction: delayed\nStatus: 4.4.7",
            ),
        ),
    )
    result = classify(mail)
    assert (result.kind, result.bounced, result.permanent) == (
        Kind.BOUNCE,
        ("slow@acme.test",),
        False,
    )


def test_x_failed_recipients_and_empty_envelope_sender() -> None:
    mail = bounce_mail(
        "A message that you sent could not be delivered.",
        from_address="postmaster@mx.leadbot.test",
        envelope_sender="<>",
        headers={"x-failed-recipients": ("One@acme.test, two@acme.test, one@acme.test",)},
    )
    result = classify(mail)
    assert result.reason == "X-Failed-Recipients: One@acme.test, two@acme.test, one@acme.test"
    assert result.bounced == ("one@acme.test", "two@acme.test")


def test_postmaster_quoting_an_smtp_error_is_a_bounce() -> None:
    mail = bounce_mail(
        "Error: Invalid user address\n\n550 - Requested action not taken: no such user here\n\n"
        "  RCPT TO: nobody@vtext.test\n",
        subject="Re:Test message",
        from_name="",
        from_address="post_master@vtext.test",
    )
    result = classify(mail)
    assert (result.kind, result.bounced) == (Kind.BOUNCE, ("nobody@vtext.test",))
    assert "SMTP error" in result.reason


def test_a_person_quoting_a_bounce_subject_is_a_message() -> None:
    mail = email(subject="Re: Undelivered Mail Returned to Sender", body="Is my address wrong?")
    assert classify(mail).kind is Kind.MESSAGE


def test_arf_report_built_by_hand() -> None:
    mail = InboundMail(
        message_id=None,
        subject="Abuse report",
        from_name="",
        from_address="fbl@isp.test",
        content_type="multipart/report",
        headers={"content-type": ("multipart/report; report-type=feedback-report",)},
        parts=(
            MailPart(
                "message/feedback-report", "Feedback-Type: abuse\nOriginal-Rcpt-To: u@isp.test"
            ),
            MailPart("message/rfc822", "From: sales@leadbot.test\nTo: u@isp.test"),
        ),
    )
    assert classify(mail) == Classification(
        Kind.COMPLAINT, "multipart/report; report-type=feedback-report", ("u@isp.test",)
    )


def test_long_runs_of_address_characters_still_classify() -> None:
    """Bounded regexes: this input made an unbounded address pattern backtrack for minutes."""
    text = "a" * 100_000 + " @ " + "b" * 100_000 + "@" + "<" * 50_000
    mail = bounce_mail(text, subject="failure notice", html=text)
    assert classify(mail).kind is Kind.BOUNCE


def test_mail_files_lists_mails_only() -> None:
    names = {path.name for path in mail_files("mail-parser")}
    assert "mail_test_1" in names and "LICENSE.txt" not in names
    assert not [path for path in mail_files("talon") if path.suffix == ".html"]
    assert mail_files("sisimai/not") == sorted((CORPORA / "mail/sisimai/not").glob("*.eml"))
