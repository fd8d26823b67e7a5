"""Settings: one typed object, read from LEADBOT_* environment variables and an optional TOML file.

Every setting has a default that works on a laptop with nothing else installed; only the Slack
ones stay empty, and without them notifications go to the console.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "LEADBOT_CONFIG"
DEFAULT_CONFIG_FILE = "leadbot.toml"
DEFAULT_DATABASE_URL = "sqlite:///leadbot.db"
DEFAULT_RULES_FILE = "leadbot-rules.toml"
# A key file of a leadbot before the key lived in the store: adopted once, so old links still work.
LEGACY_SECRET_FILE = "leadbot.secret"
# The name of the link-signing key in the store's instance_settings.
SIGNING_KEY = "signing_key"


def home_for(home: str, database_url: str) -> Path:
    """Where leadbot.toml and the rules file are: LEADBOT_HOME, else the folder of the SQLite
    store, else (PostgreSQL) the user's data folder. Never the current directory as such, so
    every command, run from anywhere with the same settings, reads the same files as `serve`."""
    from storage.urls import sqlite_file

    if home:
        return Path(home).expanduser().resolve()
    store_file = sqlite_file(database_url)
    if store_file is not None:
        return store_file.parent
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "leadbot"


def config_file() -> Path:
    """LEADBOT_CONFIG, else leadbot.toml in the home (found from the environment alone)."""
    if os.environ.get(CONFIG_FILE_ENV):
        return Path(os.environ[CONFIG_FILE_ENV])
    home = home_for(
        os.environ.get("LEADBOT_HOME", ""),
        os.environ.get("LEADBOT_DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    return home / DEFAULT_CONFIG_FILE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADBOT_", extra="ignore")

    # SQLAlchemy URL of the store: SQLite file by default, postgresql+psycopg://… in production.
    database_url: str = DEFAULT_DATABASE_URL
    # Folder of leadbot.toml and the rules file; "" = beside the SQLite store (PostgreSQL:
    # ~/.local/share/leadbot). The link-signing key lives in the store itself.
    home: str = ""
    # Where the SMTP listener binds.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    # Whom the listener accepts mail for: addresses or @domain, comma-separated.
    inbound_addresses: str = "@localhost"
    # Largest message the listener takes, in bytes (announced with ESMTP SIZE).
    smtp_max_message_size: int = 25 * 1024 * 1024
    # Where the HTTP server (health, tracking, forms, Slack) binds.
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Request bodies larger than this are refused (413) before anything reads them; Slack's
    # /slack/events gets its own limit. Request heads over these limits get 431.
    http_max_body_bytes: int = 64 * 1024
    slack_max_body_bytes: int = 1024 * 1024
    http_max_header_bytes: int = 32 * 1024
    http_max_headers: int = 100
    # IMAP mailbox to poll; polling is off while the host is empty.
    imap_host: str = ""
    imap_port: int = 993
    imap_user: str = ""
    imap_password: str = ""
    # Folder to read, and where processed messages go ("" = leave them, flagged \Seen).
    imap_folder: str = "INBOX"
    imap_done_folder: str = ""
    # "ssl" (implicit TLS, port 993), "starttls", or "plain".
    imap_security: str = "ssl"
    # Verify the IMAP server's certificate (turn off only for a self-signed test server).
    imap_verify_tls: bool = True
    # Seconds between two IMAP polls.
    imap_poll_seconds: float = 30.0
    # Where outgoing mail is relayed: smtp://user:pass@host:port or smtps://….
    outbound_smtp_url: str = "smtp://127.0.0.1:25"
    # Base URL people reach the HTTP server at (links in emails and Slack); "" = the HTTP
    # server's own address (http://LEADBOT_HTTP_HOST:LEADBOT_HTTP_PORT, 0.0.0.0 as 127.0.0.1).
    public_url: str = ""
    # Key that signs public links; when not set, one generated once and kept in the store.
    secret_key: str = ""
    # Address whose +token variants carry replies back to one lead (leads+k3x9…@domain).
    reply_address: str = "leads@localhost"
    # Slack: bot token (xoxb-…), signing secret, app-level token for Socket Mode.
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    # Slack worker processes for the work after an ack (0 = inside serve, 1 = a process).
    slack_workers: int = 1
    # Channel (id or #name) for new unassigned leads; empty = only assigned reps get cards.
    slack_channel: str = ""
    # Channel (id or #name) for the weekly reports digest; empty = no digest.
    slack_digest_channel: str = ""
    # Base URL of the Slack Web API (point it at a stand-in for tests).
    slack_api_url: str = "https://slack.com/api/"
    # TOML file with scoring, grading, assignment and retention rules ("" = leadbot-rules.toml
    # in the home; a relative path is taken from the current directory, as typed).
    rules: str = ""
    # Order of the inbound-mail steps after decoding (names from bot.mail_in.pipeline.STEPS).
    inbound_steps: list[str] = Field(
        default_factory=lambda: ["classify", "match_thread", "apply", "dedupe", "notify"]
    )
    # Inbox worker processes (0 = a thread inside serve); more than 1 only helps on PostgreSQL.
    inbox_workers: int = 1
    # Inbound messages an inbox worker processes in one transaction (each in a savepoint).
    inbox_batch_size: int = 20
    # How much nicer (lower CPU priority) inbox workers run than serve, 0-19: accepting first
    # (on a machine shared with other work, a nice worker also yields to all of it).
    inbox_worker_nice: int = 0
    # The spool the SMTP listener and the forms commit to before they answer (storage/spool.py):
    # "" = a file beside a SQLite store (leadbot.db.spool) and none on PostgreSQL, "off" = none
    # (the doors commit to the store itself), or the spool file's path.
    spool: str = ""
    # With a spool, the SMTP listener runs in a process of its own (its 250s never wait for
    # serve's other work); false = inside serve.
    smtp_process: bool = True
    # Seconds the inbox worker and the outbox dispatcher sleep when idle.
    worker_idle_seconds: float = 0.5
    # Seconds one inbound message may take to parse; over it, the message is quarantined (0 = off).
    mail_budget_seconds: float = 5.0
    # How many times a notification is tried before it is marked failed.
    outbox_max_attempts: int = 8
    # How often serve looks whether the store outgrew its match model and refits it in a
    # process of its own (`leadbot dedupe train --if-grown`); 0 = never.
    dedupe_refit_seconds: float = 3600.0
    # The enrichment provider asked after capture for what no mail says (company size,
    # industry): POST {domain, lead} -> a JSON object of lead fields; "" = none.
    enrich_url: str = ""
    # Seconds one provider call may take (it never delays capture: serve asks in a loop).
    enrich_timeout_seconds: float = 5.0
    # Nurture campaigns (bot/nurture/campaigns.py): From address ("" = LEADBOT_REPLY_ADDRESS).
    outbound_from: str = ""
    # Emails per second at most (0 = no limit), over this many SMTP connections.
    outbound_rate: float = 20.0
    outbound_connections: int = 4
    # Sender processes a big send is shared between (each with its own connections; the rate
    # is shared); fewer start when little is due.
    outbound_processes: int = 2
    # Tries per email before it is marked failed; the first retry waits this long, then doubles.
    outbound_max_attempts: int = 4
    outbound_retry_seconds: float = 30.0
    # Seconds between two runs of the campaign scheduler inside serve.
    campaign_tick_seconds: float = 60.0
    # Seconds between two writes of buffered tracking events (opens, clicks).
    tracking_flush_seconds: float = 1.0
    # Folder of the hit spool every pixel hit and click is appended to before it is answered
    # ("" = beside the SQLite file, else leadbot-hits/<the store's digest> in the home).
    tracking_spool_dir: str = ""
    # An open or click this soon after delivery is a link scanner's, not a person's.
    scanner_window_seconds: float = 10.0
    # Largest body a web form's POST may have, in bytes (413 above).
    form_max_body_bytes: int = 64 * 1024
    # Form worker processes (submissions into leads, double opt-in mails; 0 = threads in serve).
    form_workers: int = 1
    # REST API (/api/v1): requests a minute per key unless the key says otherwise, and the
    # largest request body it reads, in bytes.
    api_rate_per_minute: int = 600
    api_max_body_bytes: int = 64 * 1024
    # The largest file POST /api/v1/imports takes, in bytes (413 above).
    api_max_import_bytes: int = 10 * 1024 * 1024
    # Webhooks: a delivery is retried for this many hours (then kept as failed, `webhook
    # replay` sends it again); the first retry waits the base, then doubling up to the max.
    webhook_retry_hours: float = 72.0
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_seconds: float = 3600.0
    # Seconds a receiver has to answer one delivery.
    webhook_timeout_seconds: float = 10.0
    # Failed tries in a row after which a receiver is reported (log, Slack DM to admins).
    webhook_report_after_failures: int = 5
    # Hours the old secret stays valid (both signatures are sent) after `webhook rotate-secret`.
    webhook_rotation_grace_hours: float = 24.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def spool_path(self) -> str | None:
        """The spool file LEADBOT_SPOOL and the store describe, or None (storage/spool.py)."""
        from storage.spool import spool_path_for

        return spool_path_for(self.database_url, self.spool)

    @model_validator(mode="after")
    def _public_url_follows_http(self) -> Settings:
        if not self.public_url:
            host = self.http_host if self.http_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
            host = f"[{host}]" if ":" in host else host
            self.public_url = f"http://{host}:{self.http_port}"
        return self

    def public_url_is_loopback(self) -> bool:
        """Whether links would point at this machine only (no recipient could open them)."""
        import ipaddress
        from urllib.parse import urlsplit

        host = (urlsplit(self.public_url).hostname or "").lower()
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def inbound_address_list(self) -> list[str]:
        return [a.strip().lower() for a in self.inbound_addresses.split(",") if a.strip()]

    def home_dir(self) -> Path:
        """The folder of leadbot.toml and the default rules file (`home_for`)."""
        return home_for(self.home, self.database_url)

    def rules_file(self) -> Path:
        """LEADBOT_RULES as given, else leadbot-rules.toml in the home."""
        if self.rules:
            return Path(self.rules).expanduser()
        return self.home_dir() / DEFAULT_RULES_FILE

    def rules_named(self) -> bool:
        """Whether LEADBOT_RULES names a file (then a missing file is an error, not the default)."""
        return bool(self.rules)

    def signing_key(self) -> str:
        """LEADBOT_SECRET_KEY, else the store's key: generated once, by whichever process needs
        it first, and read by every other one, whatever its directory (a key file beside one
        command made every link it mailed unknown to the server). A leadbot.secret left in the
        home by an older leadbot is adopted, so the links it signed keep working."""
        if self.secret_key:
            return self.secret_key
        if self._stored_key is None:
            import storage.instance
            from storage.engine import Store

            legacy = self.home_dir() / LEGACY_SECRET_FILE
            candidate = (
                legacy.read_text().strip() if legacy.is_file() else secrets.token_urlsafe(32)
            )
            store = Store(self.database_url)
            try:
                with store.transaction() as session:
                    self._stored_key = storage.instance.set_once(session, SIGNING_KEY, candidate)
            finally:
                store.dispose()
        return self._stored_key

    _stored_key: str | None = PrivateAttr(default=None)


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
