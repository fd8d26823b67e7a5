"""LEADBOT_OUTBOUND_SMTP_URL: plain, STARTTLS and implicit TLS relays, with a login."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from bot.nurture.relay import Connection, Relay, Result
from tests.fakes.smtp_sink import Sink
from tests.services.ports import free_port


def test_relay_urls() -> None:
    plain = Relay.from_url("smtp://127.0.0.1:1025")
    assert (plain.host, plain.port, plain.implicit_tls, plain.starttls) == (
        "127.0.0.1", 1025, False, False,
    )  # fmt: skip
    submission = Relay.from_url("smtp://mailer%40yourco.com:p%40ss@relay.yourco.com?starttls=true")
    assert (submission.port, submission.starttls, submission.implicit_tls) == (587, True, False)
    assert (submission.username, submission.password) == ("mailer@yourco.com", "p@ss")
    tls = Relay.from_url("smtps://relay.yourco.com?verify=false&timeout=5")
    assert (tls.port, tls.implicit_tls, tls.verify, tls.timeout) == (465, True, False, 5.0)
    with pytest.raises(ValueError, match="smtp:// or smtps://"):
        Relay.from_url("http://relay.yourco.com")


def test_a_starttls_relay_gets_the_email_over_tls(tmp_path: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sink = Sink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, tls_context=context,
                            require_starttls=True)  # fmt: skip
    controller.start()
    try:
        relay = Relay.from_url(f"smtp://127.0.0.1:{sink.port}?starttls=true&verify=false")

        async def send() -> str:
            connection = Connection(relay, "yourco.com")
            try:
                return (await connection.send("leads@yourco.com", "jane@acme.io", MESSAGE)).state
            finally:
                await connection.close()

        assert asyncio.run(send()) == "sent"
        plain = Relay.from_url(f"smtp://127.0.0.1:{sink.port}")

        async def send_plain() -> Result:
            connection = Connection(plain, "yourco.com")
            try:
                return await connection.send("leads@yourco.com", "jane@acme.io", MESSAGE)
            finally:
                await connection.close()

        refused = asyncio.run(send_plain())  # the server insists on STARTTLS first
        assert refused.state == "failed" and refused.reply.startswith("530")
    finally:
        controller.stop()
    assert [d.rcpt_tos for d in sink.delivered] == [["jane@acme.io"]]


MESSAGE = b"From: leads@yourco.com\r\nTo: jane@acme.io\r\nSubject: hi\r\n\r\nhello\r\n"
