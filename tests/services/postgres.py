"""A throwaway PostgreSQL cluster for the tests: initdb in a temp folder, a free port, gone after.

Set LEADBOT_TEST_POSTGRES_URL to use a server you already run instead (its user must be allowed
to CREATE DATABASE). As root, the server runs as the `postgres` user, which refuses root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.services.ports import free_port, wait_for_port


class ServiceMissing(RuntimeError):
    pass


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise ServiceMissing(
            f"PostgreSQL's {name} is missing: run `make test-deps` (Debian package postgresql)"
        )
    return found


def _as_postgres_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceMissing(
            "running as root needs a `postgres` user: run `make test-deps`"
        ) from exc
    return ["runuser", "-u", "postgres", "--", *argv]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an admin URL (postgresql+psycopg://…/postgres) of a fresh cluster."""
    external = os.environ.get("LEADBOT_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="leadbot-pg-"))
    data, sockets = base / "data", base / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    run = dict(check=True, capture_output=True, text=True)
    subprocess.run(
        _as_postgres_user(
            [initdb, "-D", str(data), "-U", "leadbot", "--auth=trust", "-E", "UTF8", "--no-sync"]
        ),
        **run,
    )
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    )
    subprocess.run(
        _as_postgres_user(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]
        ),
        **run,
    )
    try:
        wait_for_port(port)
        yield f"postgresql+psycopg://leadbot@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    """(Re)create database `name` on the server of `admin_url`; returns its URL."""
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        suffix = f" TEMPLATE {template}" if template else ""
        connection.execute(text(f"CREATE DATABASE {name}{suffix}"))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` and end any connection to it still open. A test's database dropped
    when the test ends costs a few hundredths of a second; the hundreds a session leaves behind
    otherwise make removing the cluster at the end take half a minute."""
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()
