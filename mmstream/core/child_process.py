"""A child process of the stack: started in its own process group, never left behind."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mmstream.core.errors import StackError

log = logging.getLogger(__name__)


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LISTEN_PORTS = 12_000  # how many ports below the ephemeral range a listener is picked from
_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port for a listener that a child process binds later.

    Chosen below the kernel's ephemeral range, not with `bind(0)`: a port from `bind(0)` is an
    ephemeral one, which any outgoing connection (a Kafka client's, say) may take as its local
    port between this check and the child's bind — and keep while the connection lives (seen in
    CI: a connector restarted five times on a metrics port in use, then given up). Never the
    same port twice in one process, so that ports picked together differ.
    """
    low, high = listener_range()
    for _ in range(200):
        port = random.randint(low, high)
        if port not in _handed_out and port_is_free(port):
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded range
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listener_range() -> tuple[int, int]:
    try:
        ephemeral_low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768  # Linux's default
    high = max(ephemeral_low - 1, 2048)
    return max(1024, high - LISTEN_PORTS), high


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ChildProcess:
    """One stack process: start, readiness wait, SIGSTOP/SIGCONT, stop with a kill fallback."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self, ready: Callable[[], bool], deadline_s: float) -> float:
        """Start and wait until `ready()`; return the seconds it took."""
        started = time.monotonic()
        self.launch()
        return self.wait_ready(ready, deadline_s, started)

    def launch(self) -> None:
        """Start the process without waiting (several that need each other start together)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.kill)

    def wait_ready(
        self, ready: Callable[[], bool], deadline_s: float, started: float | None = None
    ) -> float:
        """Wait until `ready()`, failing at once if the process exits; return the seconds."""
        assert self.process is not None, f"{self.name} was not launched"
        started = time.monotonic() if started is None else started
        while not ready():
            if self.process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with {self.process.returncode} at start-up; "
                    f"see {self.log_path}"
                )
            if time.monotonic() - started > deadline_s:
                self.kill()
                raise StackError(f"{self.name} not ready within {deadline_s:.0f}s")
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        log.info("%s ready in %.0f ms (pid %d)", self.name, elapsed * 1000, self.pid)
        return elapsed

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM (after SIGCONT, in case it is paused), then SIGKILL after `grace_s`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait()
