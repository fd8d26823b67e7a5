"""Child processes for the supervisor's tests: each says what it saw in a file of lines.

They live in a module of their own (not the test file) so a spawned child imports only this.
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection


def note(path: str, text: str) -> None:
    """One line, appended in one write: lines from several children never mix."""
    with open(path, "a") as out:
        out.write(f"{os.getpid()} {text}\n")


def waits_for_work(path: str, pipe: Connection) -> None:
    """Notes its start, every wake-up, and the end of file that stops it."""
    note(path, "start")
    try:
        while True:
            pipe.recv_bytes()
            note(path, "wake")
    except EOFError:
        note(path, "eof")


def receives(path: str, pipe: Connection) -> None:
    """Notes every message it is sent, slowly enough that messages wait in the pipe."""
    note(path, "start")
    try:
        while True:
            note(path, f"got {pipe.recv()!r}")
            time.sleep(0.001)
    except EOFError:
        note(path, "eof")


def ignores_its_pipe(path: str, pipe: Connection) -> None:
    """Never reads the pipe, so only SIGTERM (or SIGKILL) ends it."""
    note(path, "start")
    time.sleep(3600)
