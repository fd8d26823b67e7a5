"""Free loopback ports for servers the tests start: nothing listens on a fixed port.

A port is handed out some time before its server binds it (`leadbot serve` takes seconds to
start), so it must not be taken meanwhile. Ports come from below the kernel's ephemeral range,
where no outgoing connection is given one; each pytest-xdist worker draws from its own slice of
that range, so two workers never hold the same port; and this process never hands out a port
twice. Without room below the ephemeral range, the kernel picks (bind to port 0).
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from pathlib import Path

LOWEST = 10000  # below this are well-known and registered services' ports


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _our_slice() -> range:
    """This process's ports: the whole range, or one worker's share of it under xdist."""
    ports = range(LOWEST, _ephemeral_floor())
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, …
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2:
        return ports
    share = len(ports) // count
    start = ports.start + int(worker[2:]) * share
    return range(start, start + share)


_SLICE = _our_slice()
_handed_out: set[int] = set()
_lock = threading.Lock()
_rng = random.Random()  # its own: drawing a port leaves the tests' random sequence alone


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    if len(_SLICE) < 100:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    with _lock:
        if len(_handed_out) > len(_SLICE) // 2:
            _handed_out.clear()  # a long session: the earliest servers are long gone
        while True:
            port = _rng.choice(_SLICE)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")
