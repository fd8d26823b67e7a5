"""The hit spool: every pixel hit and click, appended to a file before it is answered, and the
drain that writes the spool into tracking_events.

Why a file: the pixel must answer in a millisecond or two, and a database write (or an fsync)
per hit would be the whole budget. `write(2)` of one line to a file opened O_APPEND puts the hit
in the kernel's page cache before the GIF goes out, so a serve that is killed (SIGKILL, OOM)
loses none: the next tracking writer, of this serve or the next one, reads it from the file.
Only the machine itself going down can lose hits, those of the last LEADBOT_TRACKING_FLUSH_SECONDS
(the writer fsyncs each segment it has read, and the kernel writes dirty pages back within ~30 s
anyway). That is the loss bound, and the one place this path answers before the write is durable.

Layout: one directory (LEADBOT_TRACKING_SPOOL_DIR; by default beside the SQLite file, else
`leadbot-hits/<the store's digest>` in the home), segments `hits-<pid>-<ns>.log` of one JSON
array per line. A serve appends to its newest segment and starts another past SEGMENT_BYTES. The
writer drains every segment from the offset stored in tracking_spool_offsets, moving the offset
in the transaction that writes the events (a hit is written once); a segment whose owner is gone
(or that its owner has moved past) is deleted once drained, then its offset row.

A hit names a send and carries the reader's user agent: personal data, kept as long as the
tracking events are and erased with them. So the spool must not outlive its drain: the segment a
serve is still appending to has its drained part punched out (`fallocate(PUNCH_HOLE)`, the bytes
read back as zeros, the blocks are freed), and finished segments are deleted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import storage.campaigns
from bot.config import Settings
from bot.nurture.campaigns import Hit, record_hits
from storage.engine import Store

log = logging.getLogger(__name__)

SEGMENT = re.compile(r"hits-(\d+)-(\d+)\.log")
# A serve starts a new segment past this size (drained segments are deleted).
SEGMENT_BYTES = 16 * 1024 * 1024
# Read at most this much of a segment per transaction.
CHUNK_BYTES = 4 * 1024 * 1024


def spool_dir(settings: Settings) -> Path:
    """Where the spool lives: the setting, else beside the SQLite file, else a folder of the
    home's leadbot-hits named by the database (serves of other stores on the host keep apart;
    serves of one store share it, and drain each other's segments safely)."""
    if settings.tracking_spool_dir:
        return Path(settings.tracking_spool_dir).expanduser()
    url = settings.database_url
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        database = Path(url.removeprefix("sqlite:///"))
        return database.with_name(database.name + "-hits")
    store = hashlib.sha256(url.encode()).hexdigest()[:16]
    return settings.home_dir() / "leadbot-hits" / store


class HitSpool:
    """The serving side: append a hit, durable against this process dying, before answering."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fd = -1
        self.name = ""
        self.size = 0
        self.appended = 0
        self._open()

    def _open(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.name = f"hits-{os.getpid()}-{time.time_ns()}.log"
        self.fd = os.open(self.folder / self.name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = 0
        self.appended = 0

    def leftovers(self) -> bool:
        """Whether segments of other serves are waiting (a killed serve's hits)."""
        return any(
            SEGMENT.fullmatch(path.name) and path.stat().st_size
            for path in self.folder.iterdir()
            if path.name != self.name
        )

    def append(self, hit: Hit) -> None:
        """One line, one write(2): it is the kernel's once this returns (a short write of a few
        hundred bytes to a regular file does not happen but for a full disk, which raises)."""
        line = json.dumps(list(hit), separators=(",", ":")).encode("ascii") + b"\n"
        os.write(self.fd, line)
        self.size += len(line)
        self.appended += 1
        if self.size >= SEGMENT_BYTES:
            self._open()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# fallocate(2) modes: free the range's blocks, keep the file's size (offsets stay valid).
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def punch_out(path: Path, length: int) -> bool:
    """Zero the first `length` bytes of a segment and free their blocks, without moving what a
    serve appends after them; False where the file system cannot (then the bytes stay until the
    segment is finished and deleted)."""
    if length <= 0:
        return True
    fd = os.open(path, os.O_WRONLY)
    try:
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        if _libc.fallocate(fd, mode, 0, length) != 0:
            log.warning("cannot punch the drained hits out of %s: %s", path,
                        os.strerror(ctypes.get_errno()))  # fmt: skip
            return False
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drain(
    store: Store,
    folder: Path,
    scanner_window: float,
    owner: int | None = None,
    record: Callable[[Any, list[Hit], float], int] = record_hits,
    *,
    finished_only: bool = False,
) -> int:
    """Write every complete line of every segment not written yet; returns the hits written.
    `owner` is the pid of the serve whose newest segment is still being appended to (the
    writer's parent): that one is never deleted. `finished_only`: only what serves that are
    gone left (a writer starting drains those at once, its own serve's hits at the interval)."""
    if not folder.is_dir():
        return 0
    segments = sorted(
        ((int(m.group(1)), int(m.group(2)), path.name) for path in folder.iterdir()
         if (m := SEGMENT.fullmatch(path.name))),
        key=lambda s: s[1],
    )  # fmt: skip
    newest: dict[int, int] = {}
    for pid, ns, _ in segments:
        newest[pid] = max(ns, newest.get(pid, 0))
    written = 0
    for pid, ns, name in segments:
        path = folder / name
        finished = newest[pid] != ns or (pid != owner and not _alive(pid))
        if finished_only and not finished:
            continue
        moved = False
        while True:
            with store.transaction() as session:
                offset = storage.campaigns.lock_spool_offset(session, name)
                with path.open("rb") as file:
                    file.seek(offset)
                    data = file.read(CHUNK_BYTES)
                end = data.rfind(b"\n") + 1
                if end:
                    hits = _parse(data[:end], name)
                    written += record(session, hits, scanner_window)
                    storage.campaigns.set_spool_offset(session, name, offset + end)
            drained, moved = offset + end, moved or end > 0
            if end == 0 or len(data) < CHUNK_BYTES:
                break
        with path.open("rb") as file:
            os.fsync(file.fileno())  # what is on disk now no longer waits for the kernel
        if not finished:
            if moved:
                punch_out(path, drained)  # its serve appends on: free what is written only
            continue
        if data[end:]:
            log.warning("spool segment %s ends in %d bytes that are no whole hit", name,
                        len(data) - end)  # fmt: skip
        path.unlink(missing_ok=True)  # the file first: a crash here leaves a stale row
        with store.transaction() as session:
            storage.campaigns.drop_spool_offset(session, name)
    return written


def _parse(data: bytes, name: str) -> list[Hit]:
    hits = []
    for line in data.splitlines():
        try:
            kind, send_id, at, agent, index, apple = json.loads(line)
            hits.append(Hit(str(kind), int(send_id), float(at), str(agent),
                            None if index is None else int(index), bool(apple)))  # fmt: skip
        except (ValueError, TypeError):
            log.warning("spool segment %s: a line that is no hit: %r", name, line[:200])
    return hits
