"""One supervisor for serve's child processes: spawn, watch, restart the dead, wake, send, stop.

The inbox workers, the tracking writer and the Slack worker are the same shape (Mailman's master
and its runners, in small): a spawned process that serve keeps alive. Each child gets the read
end of a pipe as its last argument. The pipe carries wake-ups (bytes the child drops) or
messages (objects it `recv`s), and closing it is the stop signal: the child reads everything sent
before the close, then end of file. A child also reads end of file when serve dies, even by
SIGKILL, so no child outlives it. (A multiprocessing.Event would not do: its lock can be left
held by a parent killed mid-`set()`, which would hang the child.)

The child's module keeps its entry point and its own log lines; the app builds a `Child` from
them, so those modules never import the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import select
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

_spawn = multiprocessing.get_context("spawn")

# What a wake-up is on the pipe: one short frame, written only when the pipe has room.
WAKE = b"!"
# How long a child that ignored SIGTERM at stop gets before SIGKILL.
KILL_AFTER_SECONDS = 5.0


@dataclass(frozen=True)
class Child:
    """A kind of child process: its entry point and arguments, and what its module logs."""

    name: str  # the process name, as ps and the logs show it
    main: Callable[..., None]  # called as main(*args, pipe) in the new process
    args: tuple[Any, ...]
    exited: Callable[[BaseProcess], None]  # a child died: logged before it is started again
    overdue: Callable[[float], None] | None = None  # stop had to end a child after `timeout`


@dataclass
class _Running:
    process: BaseProcess
    pipe: Connection


class Supervisor:
    """`count` processes of one `Child`, each with its own pipe, kept running until `stop`."""

    def __init__(self, child: Child, count: int = 1) -> None:
        self.child = child
        self.count = count
        self._children: list[_Running | None] = [None] * count
        # Who runs: the loop watches and wakes, a thread may send; replacing a child's pipe waits
        # for no send in flight on it, so a write never lands in a pipe that was closed.
        self._state = threading.Lock()
        self._sending = threading.Lock()
        self._poster: ThreadPoolExecutor | None = None
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        with self._state:
            return [c.process.pid for c in self._children if c is not None and c.process.pid]

    @property
    def alive(self) -> bool:
        """Whether every child runs (what /readyz reports for the inbox workers)."""
        with self._state:
            return all(c is not None and c.process.is_alive() for c in self._children)

    def start(self) -> None:
        """Spawn every child that is not running yet."""
        with self._state:
            for index, running in enumerate(self._children):
                if running is None:
                    self._children[index] = self._spawn()

    def watch(self) -> None:
        """Start again every child that died (not once `stop` has begun)."""
        if not self._sending.acquire(blocking=False):
            return  # a send is in flight: it replaces a dead child itself, or the next watch does
        try:
            with self._state:
                if self._stopping:
                    return
                for index, running in enumerate(self._children):
                    if running is not None and not running.process.is_alive():
                        self.child.exited(running.process)
                        running.pipe.close()
                        self._children[index] = self._spawn()
        finally:
            self._sending.release()

    def wake(self) -> None:
        """A wake-up to every child that waits for work; never blocks the caller.

        A full pipe already holds a wake-up, and a message in flight wakes its child anyway, so
        either is skipped. A dead child's wake-up is dropped: `watch` starts another.
        """
        if not self._sending.acquire(blocking=False):
            return
        try:
            with self._state:
                pipes = [c.pipe for c in self._children if c is not None]
            for pipe in pipes:
                with contextlib.suppress(OSError):  # closed or broken: the child is gone
                    _, writable, _ = select.select([], [pipe.fileno()], [], 0)
                    # Room in a pipe means room for one page: this short write never blocks.
                    if writable:
                        pipe.send_bytes(WAKE)
        finally:
            self._sending.release()

    def send(self, message: Any) -> None:
        """Hand `message` to the (first) child, starting it first if it is not running.

        Blocks while the pipe is full, which is the back-pressure a busy child puts on its
        sender: call it off the event loop. A child that died mid-send is started again and the
        message sent to it once more (the dead one never read all of it).
        """
        with self._sending:
            running = self._first()
            try:
                running.pipe.send(message)
            except OSError:  # BrokenPipeError: the child died since it was looked at
                running.process.join(KILL_AFTER_SECONDS)  # its pipe broke as it exited
                self._first().pipe.send(message)

    def post(self, message: Any) -> None:
        """`send` without ever blocking the caller: one thread hands the messages over in order."""
        with self._state:
            if self._poster is None:
                self._poster = ThreadPoolExecutor(1, thread_name_prefix=self.child.name)
        self._poster.submit(self.send, message).add_done_callback(self._posted)

    def _posted(self, future: Future[None]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            log.error("%s: a message was lost (%s: %s)", self.child.name,
                      type(error).__name__, error)  # fmt: skip

    async def run(self, wake: asyncio.Event | None = None, every: float = 1.0) -> None:
        """Until cancelled: pass each `wake` on to the children, and `watch` every `every` s."""
        while True:
            if wake is None:
                await asyncio.sleep(every)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=every)
                if wake.is_set():
                    wake.clear()
                    self.wake()
            self.watch()

    def stop(self, timeout: float) -> None:
        """Close every pipe once all posted messages are handed over; the children finish what
        they read and exit. Whatever is still running after `timeout` seconds is ended."""
        deadline = time.monotonic() + timeout
        with self._state:
            if self._stopping:
                return  # stopped already (or stopping in another thread)
            self._stopping = True
        if self._poster is not None:
            with contextlib.suppress(FutureTimeout):
                self._poster.submit(lambda: None).result(timeout=timeout)
        if self._sending.acquire(timeout=max(deadline - time.monotonic(), 0)):
            self._close_pipes()
            self._sending.release()
        children = [c for c in self._children if c is not None]
        for running in children:
            running.process.join(max(deadline - time.monotonic(), 0))
        for running in children:
            if running.process.is_alive():
                if self.child.overdue is not None:
                    self.child.overdue(timeout)
                running.process.terminate()
                running.process.join(KILL_AFTER_SECONDS)
                if running.process.is_alive():
                    running.process.kill()
                    running.process.join()
        # A send that was stuck on a child now ended has failed: its pipe can close safely.
        with self._sending:
            self._close_pipes()
        if self._poster is not None:
            self._poster.shutdown(wait=True)

    def _first(self) -> _Running:
        """The first child, running: started now if it never was or if it died (not at stop)."""
        with self._state:
            running = self._children[0]
            if running is not None and running.process.is_alive():
                return running
            if self._stopping:
                raise RuntimeError(f"{self.child.name} is stopping")
            if running is not None:
                self.child.exited(running.process)
                running.pipe.close()
            self._children[0] = running = self._spawn()
            return running

    def _spawn(self) -> _Running:
        receiver, sender = _spawn.Pipe(duplex=False)
        process = _spawn.Process(
            target=self.child.main,
            args=(*self.child.args, receiver),
            name=self.child.name,
            daemon=True,
        )
        process.start()
        receiver.close()
        return _Running(process, sender)

    def _close_pipes(self) -> None:
        for running in self._children:
            if running is not None:
                running.pipe.close()
