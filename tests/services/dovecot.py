"""A throwaway Dovecot IMAP server for the tests: temp dir, free ports, plain IMAP and IMAPS.

Nothing of the system configuration is read: the fixture writes its own dovecot.conf (one
passwd-file user with a plain password, Maildir under the temp dir, mail owned by the user the
tests run as), makes a self-signed certificate with openssl and runs `dovecot -F` in the
foreground until the context ends. Messages are put in with IMAP APPEND, so their UIDs are real.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from tests.services.ports import free_port, wait_for_port
from tests.services.postgres import ServiceMissing

DOVECOT = "/usr/sbin/dovecot"
USER = "leads"
PASSWORD = "lead-pass-1"

CONFIG = """\
# Written by tests/services/dovecot.py: no system configuration is included.
instance_name = {instance}
base_dir = {base}/run
state_dir = {base}/state
protocols = imap
listen = 127.0.0.1
log_path = {base}/dovecot.log
{users}
ssl = yes
ssl_cert = <{base}/cert.pem
ssl_key = <{base}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{base}/mail/%u
mail_fsync = never

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = home={base}/mail/%u
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
"""


@dataclass(frozen=True)
class DovecotServer:
    """Where the test server listens, whom it serves, and a way to put mail in."""

    host: str
    port: int
    ssl_port: int
    user: str
    password: str
    maildir: Path
    log_path: Path

    def connect(self) -> IMAPClient:
        """A logged-in client over plain IMAP (the caller logs out)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple[bytes, ...] = ()) -> int:
        """APPEND one raw message to `folder` (created if missing); returns its UID."""
        return self.append_many([raw], folder, flags)[0]

    def append_many(
        self, raws: list[bytes], folder: str = "INBOX", flags: tuple[bytes, ...] = ()
    ) -> list[int]:
        """APPEND messages over one connection; returns their UIDs in order."""
        client = self.connect()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            uids = []
            for raw in raws:
                answer = client.append(folder, raw, flags=flags)
                uids.append(_appended_uid(answer))
            return uids
        finally:
            client.logout()

    def reset(self) -> None:
        """Delete every folder but INBOX and empty INBOX, so each test starts clean."""
        client = self.connect()
        try:
            for _flags, _delimiter, name in client.list_folders():
                if name.upper() != "INBOX":
                    client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()
        finally:
            client.logout()


def _appended_uid(answer: bytes) -> int:
    """The UID out of an APPEND answer: b'[APPENDUID <uidvalidity> <uid>] Append completed.'"""
    text = answer.decode("ascii", "replace")
    if "APPENDUID" not in text:
        raise RuntimeError(f"Dovecot gave no APPENDUID: {text!r}")
    return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])


MAIL_USER_AS_ROOT = "nobody"


def _process_users() -> tuple[str, int, int]:
    """Config lines naming Dovecot's process users, and the uid/gid that owns the mail.

    As anyone but root, everything runs as that user. As root, the login and internal processes
    use Dovecot's own users (dovenull, dovecot), and the mail belongs to `nobody`: Dovecot's imap
    process refuses to access mail as root ("Mail access not allowed for root") whatever
    first_valid_uid says.
    """
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        lines = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        return lines, os.geteuid(), os.getegid()
    for name in ("dovecot", "dovenull", MAIL_USER_AS_ROOT):
        try:
            pwd.getpwnam(name)
        except KeyError as exc:
            raise ServiceMissing(
                f"running Dovecot as root needs the `{name}` user: install the Debian package "
                "dovecot-imapd (it creates dovecot and dovenull)"
            ) from exc
    mail_user = pwd.getpwnam(MAIL_USER_AS_ROOT)
    return "", mail_user.pw_uid, mail_user.pw_gid


def _make_certificate(base: Path) -> None:
    openssl = shutil.which("openssl")
    if not openssl:
        raise ServiceMissing("openssl is not installed (Debian package openssl)")
    names = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    subject = ["-subj", "/CN=localhost", "-addext", names]
    keys = ["-keyout", str(base / "key.pem"), "-out", str(base / "cert.pem")]
    subprocess.run([openssl, *request, *subject, *keys], check=True, capture_output=True)


def _wait_until_serving(
    server: DovecotServer, process: subprocess.Popen[bytes], output: Path
) -> None:
    """Ports open and a login works (auth is up), or fail with the end of the log."""
    deadline = time.monotonic() + 20
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            wait_for_port(server.port, timeout=1)
            wait_for_port(server.ssl_port, timeout=1)
            server.connect().logout()
            return
        except Exception as exc:
            last_error = exc
            time.sleep(0.1)
    text = "".join(
        path.read_text(errors="replace")[-3000:]
        for path in (output, server.log_path)
        if path.exists()
    )
    raise RuntimeError(
        f"Dovecot did not come up (exit {process.poll()}, last error {last_error!r}):\n{text}"
    )


@contextmanager
def dovecot_server() -> Iterator[DovecotServer]:
    """Start Dovecot on free loopback ports in a temp dir; stop it and remove the dir after."""
    if not os.access(DOVECOT, os.X_OK):
        raise ServiceMissing(
            f"Dovecot is not installed ({DOVECOT} missing): install the Debian package "
            "dovecot-imapd"
        )
    base = Path(tempfile.mkdtemp(prefix="leadbot-dovecot-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        base.chmod(0o755)  # the unprivileged login processes reach their sockets under base/run
        users, mail_uid, mail_gid = _process_users()
        (base / "mail").mkdir()
        os.chown(base / "mail", mail_uid, mail_gid)
        _make_certificate(base)
        (base / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        port, ssl_port = free_port(), free_port()
        while ssl_port == port:
            ssl_port = free_port()
        config = base / "dovecot.conf"
        config.write_text(
            CONFIG.format(
                instance=base.name,
                base=base,
                users=users,
                uid=mail_uid,
                gid=mail_gid,
                port=port,
                ssl_port=ssl_port,
            )
        )
        check = subprocess.run([DOVECOT, "-n", "-c", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"dovecot.conf is invalid:\n{check.stderr}")
        server = DovecotServer(
            host="127.0.0.1",
            port=port,
            ssl_port=ssl_port,
            user=USER,
            password=PASSWORD,
            maildir=base / "mail" / USER,
            log_path=base / "dovecot.log",
        )
        output = base / "dovecot.out"
        with output.open("wb") as out:
            process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        _wait_until_serving(server, process, output)
        yield server
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(base, ignore_errors=True)


__all__ = ["DovecotServer", "ServiceMissing", "dovecot_server"]
