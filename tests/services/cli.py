"""`python -m bot.cli …` as a process of its own, forked from a server that imported the CLI once.

The end-to-end tests run the CLI hundreds of times and start `leadbot serve` dozens of times, and
a fresh interpreter spends more than a second of CPU importing the bot before it does anything.
So one server per test process imports `bot.cli` and what it stands on once, then forks for
every command. The fork does what `python -m bot.cli` does from that point on: `runpy` runs the
package's `__main__` with the command's `sys.argv`, `sys.path[0]` and `__main__` set as the
interpreter sets them, in the command's environment, working directory and standard streams,
and it ends as an interpreter ends (threads joined, atexit run, streams flushed, the status of
SystemExit or 1 and the traceback for an uncaught error). The server reaps it and reports its
exit status, a signal's as `-signum` like `subprocess`. What a fork cannot reproduce is
module-level state computed at import, which here comes from the server's environment: the
tests' own without any LEADBOT_* variable, as `bot_env` builds it.

LEADBOT_TEST_CLI_SPAWN=1 starts a fresh interpreter for every command instead (the slow way, for
when one suspects a difference).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import locale
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
MODULE = "bot.cli"
# Imported by the server before it forks: what `python -m bot.cli` imports, and the drivers and
# Alembic a command loads when it opens a store, so that no command pays for them again.
PRELOAD = (
    "bot.cli", "bot.app.serve", "storage.migrate", "alembic.command", "psycopg",
    "sqlalchemy.dialects.postgresql.psycopg", "sqlalchemy.dialects.sqlite.pysqlite",
)  # fmt: skip
_SIZE = struct.Struct("!I")
_INT = struct.Struct("!i")


def spawn_wanted() -> bool:
    """True when every command must start a fresh interpreter (LEADBOT_TEST_CLI_SPAWN=1)."""
    return os.environ.get("LEADBOT_TEST_CLI_SPAWN") == "1"


def base_env() -> dict[str, str]:
    """The environment the server imports in: the tests' own, without any LEADBOT_* setting."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEADBOT_")}
    env["PYTHONPATH"] = str(REPO)
    return env


class ForkedProcess:
    """One forked command: the part of `subprocess.Popen` the tests use (pid, poll, wait,
    send_signal, kill, returncode). The status comes from the server, which is its parent."""

    def __init__(self, args: list[str], conn: socket.socket) -> None:
        self.args = [sys.executable, "-m", MODULE, *args]
        self.conn = conn
        self.pid = self._read_int()
        self.returncode: int | None = None

    def _read_int(self) -> int:
        # recv, not a buffered file: a read-ahead would hide the status from select()
        data = self.conn.recv(_INT.size, socket.MSG_WAITALL)
        if len(data) < _INT.size:
            raise RuntimeError("the CLI fork server went away")
        return _INT.unpack(data)[0]

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.conn], [], [], 0)[0]:
            self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if timeout is not None and not select.select([self.conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._finish()
        assert self.returncode is not None
        return self.returncode

    def _finish(self) -> None:
        self.returncode = self._read_int()
        self.conn.close()

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class CliServer:
    """The forking server, a child of the test process that leaves when the test process does."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="leadbot-cli-"))
        self.socket_path = self.dir / "fork.sock"
        self.log_path = self.dir / "server.log"
        with self.log_path.open("wb") as log:
            # stdin is a pipe nobody writes: the server leaves when it reads EOF (we are gone).
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.services.cli", str(self.socket_path)],
                cwd=REPO, env=base_env(), stdin=subprocess.PIPE, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not self.socket_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the CLI fork server did not start:\n{self.log()}")
            time.sleep(0.02)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()
        for path in (self.socket_path, self.log_path):
            path.unlink(missing_ok=True)
        self.dir.rmdir()

    def start(self, args: list[str], cwd: Path, env: dict[str, str],
              fds: tuple[int, int, int]) -> ForkedProcess:  # fmt: skip
        """Fork `python -m bot.cli *args` with these stdin, stdout and stderr descriptors."""
        request = json.dumps({"args": args, "cwd": str(cwd), "env": env}).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(self.socket_path))
            socket.send_fds(conn, [b"F"], list(fds))
            conn.sendall(_SIZE.pack(len(request)) + request)
            return ForkedProcess(args, conn)
        except BaseException:
            conn.close()
            raise


_server: CliServer | None = None
_server_lock = threading.Lock()


def _the_server() -> CliServer:
    """This test process's server, started on first use (each xdist worker has its own)."""
    global _server
    with _server_lock:
        if _server is None or _server.process.poll() is not None:
            _server = CliServer()
            atexit.register(_server.stop)
        return _server


def start_cli(args: list[str], cwd: Path, env: dict[str, str],
              output: IO[bytes]) -> subprocess.Popen[bytes] | ForkedProcess:  # fmt: skip
    """`python -m bot.cli *args` running in the background, stdout and stderr into `output`."""
    if spawn_wanted():
        return subprocess.Popen([sys.executable, "-m", MODULE, *args], cwd=cwd, env=env,
                                stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
    with _stdin() as stdin:
        return _the_server().start(args, cwd, env, (stdin, output.fileno(), output.fileno()))


def run_cli(args: list[str], cwd: Path, env: dict[str, str],
            timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Like `subprocess.run([python, -m, bot.cli, *args], capture_output=True, text=True)`."""
    if spawn_wanted():
        return subprocess.run([sys.executable, "-m", MODULE, *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        with _stdin() as stdin:
            fds = (stdin, stdout.fileno(), stderr.fileno())
            process = _the_server().start(args, cwd, env, fds)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            output = (_text(stdout), _text(stderr))
            raise subprocess.TimeoutExpired(process.args, timeout, *output) from None
        return subprocess.CompletedProcess(process.args, code, _text(stdout), _text(stderr))


@contextmanager
def _stdin() -> Iterator[int]:
    """Our standard input, which a subprocess would inherit (/dev/null when there is none)."""
    try:
        os.fstat(0)
    except OSError:
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            yield devnull
        finally:
            os.close(devnull)
    else:
        yield 0


def _text(file: IO[bytes]) -> str:
    """What `subprocess.run(text=True)` makes of the bytes: locale encoding, newlines made \\n."""
    file.seek(0)
    text = file.read().decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


# The server: `python -m tests.services.cli SOCKET`.


def _serve(socket_path: str) -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that select() wakes up
    signal.set_wakeup_fd(wake_w)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".new")
    listener.listen(64)
    os.rename(socket_path + ".new", socket_path)  # it appears once it accepts
    running: dict[int, socket.socket] = {}
    while True:
        readable, _, _ = select.select([listener, sys.stdin, wake_r], [], [])
        if sys.stdin in readable:
            return  # EOF: the test process has gone
        if wake_r in readable:
            os.read(wake_r, 4096)
            _report_exits(running)
        if listener in readable:
            conn, _ = listener.accept()
            try:
                request, fds = _receive(conn)
            except (OSError, ValueError, struct.error):
                conn.close()  # a caller that went away before it had asked
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                for other in (listener, conn, *running.values()):
                    other.close()
                signal.set_wakeup_fd(-1)
                os.close(wake_r)
                os.close(wake_w)
                _command(request, fds)  # never returns
            for fd in fds:
                os.close(fd)
            running[pid] = conn
            with contextlib.suppress(OSError):  # a caller gone meanwhile learns nothing
                conn.sendall(_INT.pack(pid))
            _report_exits(running)


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    _, fds, _, _ = socket.recv_fds(conn, 1, 3)
    with conn.makefile("rb") as stream:
        size = _SIZE.unpack(stream.read(_SIZE.size))[0]
        return json.loads(stream.read(size)), fds


def _report_exits(running: dict[int, socket.socket]) -> None:
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        conn = running.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):  # unless the caller stopped listening
                conn.sendall(_INT.pack(os.waitstatus_to_exitcode(status)))
            conn.close()


def _command(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become `python -m bot.cli ARGS`, run, exit as the interpreter does."""
    import runpy

    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):  # the caller's stdin, stdout and stderr
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]  # what `-m` puts there: the working directory
        sys.argv = [MODULE, *request["args"]]  # runpy puts the module's file in argv[0]
        try:
            runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit_:
            code = _exit_status(exit_.code)
        except BaseException:
            sys.excepthook(*sys.exc_info())  # what the interpreter does with an uncaught error
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does at exit
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    finally:
        os._exit(code)


def _exit_status(value: object) -> int:
    """The status an interpreter exits with for `SystemExit(value)`."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


if __name__ == "__main__":
    _serve(sys.argv[1])
