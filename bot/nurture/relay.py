"""The outbound relay named by LEADBOT_OUTBOUND_SMTP_URL, and one email's trip through it.

smtp://host:25 (plain), smtp://host:587?starttls=true (STARTTLS), smtps://host:465 (implicit TLS);
user:password@ in the URL logs in; ?verify=false accepts a self-signed certificate (tests only).

At most once: MAIL and RCPT are sent first; an error there, or an SMTP reply to DATA, means the
server did not take the message and it may be tried again. A connection lost or a timeout while
the message itself is in flight is `unknown`: the server may have taken it, so it is not resent.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Relay:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    verify: bool = True
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> Relay:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"LEADBOT_OUTBOUND_SMTP_URL must be smtp:// or smtps://, not {url!r}")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        starttls = query.get("starttls", "") in TRUE
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if implicit else 587 if starttls else 25),
            implicit_tls=implicit,
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            verify=query.get("verify", "true") in TRUE,
            timeout=float(query.get("timeout", "30")),
        )

    def client(self, local_hostname: str) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.implicit_tls,
            start_tls=self.starttls,
            username=self.username,
            password=self.password,
            validate_certs=self.verify,
            timeout=self.timeout,
            # Named here: the default asks DNS for this host's FQDN, which can hang.
            local_hostname=local_hostname,
        )


@dataclass(frozen=True, slots=True)
class Result:
    # sent, retry (not taken, try again), failed (refused for good), unknown (may have gone)
    state: str
    reply: str


class Connection:
    """One SMTP connection, opened on first use and again after it drops."""

    def __init__(self, relay: Relay, local_hostname: str) -> None:
        self.relay = relay
        self.local_hostname = local_hostname
        self.smtp: aiosmtplib.SMTP | None = None

    async def send(self, sender: str, recipient: str, data: bytes) -> Result:
        try:
            if self.smtp is None or not self.smtp.is_connected:
                self.smtp = self.relay.client(self.local_hostname)
                await self.smtp.connect()
            await self.smtp.mail(sender)
            await self.smtp.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            return _refused(exc.code, exc.message)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            await self.close()
            return Result("retry", f"connection: {exc}")
        try:
            response = await self.smtp.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            return _refused(exc.code, exc.message)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            await self.close()
            return Result("unknown", f"connection lost during DATA: {exc}")
        return Result("sent", f"{response.code} {response.message}")

    async def _reset(self) -> None:
        try:
            if self.smtp is not None and self.smtp.is_connected:
                await self.smtp.rset()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            await self.close()

    async def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                smtp.close()


def _refused(code: int, message: str) -> Result:
    reply = f"{code} {message}".strip()
    return Result("failed" if 500 <= code < 600 else "retry", reply)
