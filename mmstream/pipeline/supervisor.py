"""A small process supervisor: start child processes, restart the ones that crash, stop in order.

Each child runs in its own process group so that Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in the order that loses nothing: connectors first (they
flush what they hold), then the worker, then the simulators, and the stack last.

Restart budget: a child that exits is restarted (with exponential back-off) unless it exited
with a fatal code or has already been restarted `max_restarts` times within the last
`restart_window_s` seconds; then the supervisor fails (and `mmstream up` exits non-zero). Every
exit is reported with the child's name, exit code, log file and the log's last lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import Field
from pydantic_settings import BaseSettings

from mmstream.core.errors import MmstreamError
from mmstream.core.settings import settings_config

log = logging.getLogger(__name__)

# Exit codes a child uses to say "do not restart me": configuration (2) and fatal auth (3) errors.
FATAL_EXIT_CODES = frozenset({2, 3})
LOG_TAIL_LINES = 8


class SupervisorSettings(BaseSettings):
    """`mmstream up`'s restart budget (`MMSTREAM_SUPERVISOR_*`)."""

    model_config = settings_config("MMSTREAM_SUPERVISOR_")

    max_restarts: int = Field(default=5, ge=0, description="restarts allowed within the window")
    restart_window_s: float = Field(default=300.0, gt=0, description="the budget's window")
    restart_backoff_s: float = Field(default=1.0, ge=0, description="first restart delay")


class ChildFailed(MmstreamError):
    """A child process exited with a fatal code or crashed more often than allowed."""


@dataclass(frozen=True)
class ChildSpec:
    """How to run one process of the pipeline."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    stop_stage: int = 0  # lower stops first
    restart: bool = True
    oneshot: bool = False  # a job expected to exit 0 (e.g. loading the fixture map)
    stop_timeout: float = 15.0


@dataclass
class ChildState:
    spec: ChildSpec
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    recent_restarts: deque[float] = field(default_factory=deque)  # monotonic times
    last_exit: int | None = None
    started_at: float = 0.0
    log_path: str | None = None


class Supervisor:
    """Runs `ChildSpec`s; `stop()` terminates them stage by stage."""

    def __init__(
        self,
        log_dir: str,
        max_restarts: int = 5,
        restart_backoff: float = 1.0,
        restart_window_s: float = 300.0,
    ) -> None:
        self.log_dir = log_dir
        self.max_restarts = max_restarts
        self.restart_backoff = restart_backoff
        self.restart_window_s = restart_window_s
        self.children: dict[str, ChildState] = {}
        self.failure: ChildFailed | None = None
        self._stopping = False
        self._watchers: list[asyncio.Task[None]] = []
        self._failed = asyncio.Event()

    async def start(self, spec: ChildSpec) -> ChildState:
        state = ChildState(spec)
        self.children[spec.name] = state
        await self._spawn(state)
        self._watchers.append(asyncio.create_task(self._watch(state), name=f"watch-{spec.name}"))
        return state

    async def run_job(self, spec: ChildSpec, deadline_s: float) -> None:
        """Run a one-shot child to completion; raise if it fails."""
        state = ChildState(spec)
        self.children[spec.name] = state
        await self._spawn(state)
        assert state.process is not None
        try:
            code = await asyncio.wait_for(state.process.wait(), deadline_s)
        except TimeoutError:
            self._kill_group(state.process, signal.SIGKILL)
            raise ChildFailed(f"{spec.name} did not finish within {deadline_s:.0f}s") from None
        state.last_exit = code
        if code != 0:
            raise ChildFailed(
                f"{spec.name} exited with {code}; see {state.log_path}{last_lines(state.log_path)}"
            )

    async def _spawn(self, state: ChildState) -> None:
        spec = state.spec
        os.makedirs(self.log_dir, exist_ok=True)
        state.log_path = os.path.join(self.log_dir, f"{spec.name}.log")
        env = {**os.environ, **spec.env}
        # the child inherits the descriptor; opening a local log file does not block the loop
        with open(state.log_path, "ab") as log_file:  # noqa: ASYNC230
            state.process = await asyncio.create_subprocess_exec(
                *spec.argv,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )
        state.started_at = time.monotonic()
        log.info("started %s (pid %s)", spec.name, state.process.pid)

    async def _watch(self, state: ChildState) -> None:
        while True:
            assert state.process is not None
            code = await state.process.wait()
            state.last_exit = code
            if self._stopping:
                return
            spec = state.spec
            where = f"see {state.log_path}{last_lines(state.log_path)}"
            if code in FATAL_EXIT_CODES or not spec.restart:
                self._fail(f"{spec.name} exited with {code}; {where}")
                return
            now = time.monotonic()
            recent = state.recent_restarts
            while recent and now - recent[0] > self.restart_window_s:
                recent.popleft()
            if len(recent) >= self.max_restarts:
                self._fail(
                    f"{spec.name} exited with {code} and could not be kept running: it crashed "
                    f"{len(recent) + 1} times within {self.restart_window_s:.0f}s; {where}"
                )
                return
            state.restarts += 1
            recent.append(now)
            delay = min(30.0, self.restart_backoff * 2 ** (len(recent) - 1))
            log.warning(
                "%s exited with %s; restart %d (%d of %d within %.0fs) in %.1fs; %s",
                spec.name,
                code,
                state.restarts,
                len(recent),
                self.max_restarts,
                self.restart_window_s,
                delay,
                where,
            )
            await asyncio.sleep(delay)
            if self._stopping:
                return
            await self._spawn(state)

    def _fail(self, message: str) -> None:
        log.error("%s", message)
        if self.failure is None:
            self.failure = ChildFailed(message)
        self._failed.set()

    async def wait_failure(self) -> ChildFailed:
        await self._failed.wait()
        assert self.failure is not None
        return self.failure

    async def stop(self) -> dict[str, int | None]:
        """Stop every child, stage by stage; return each child's exit code."""
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        for stage in sorted({s.spec.stop_stage for s in self.children.values()}):
            group = [s for s in self.children.values() if s.spec.stop_stage == stage]
            await asyncio.gather(*(self._stop_child(s) for s in group))
        return {name: s.last_exit for name, s in self.children.items()}

    async def _stop_child(self, state: ChildState) -> None:
        process = state.process
        if process is None or process.returncode is not None:
            if process is not None:
                state.last_exit = process.returncode
            return
        self._kill_group(process, signal.SIGTERM)
        try:
            state.last_exit = await asyncio.wait_for(process.wait(), state.spec.stop_timeout)
        except TimeoutError:
            log.warning(
                "%s did not stop within %.0fs; killing it", state.spec.name, state.spec.stop_timeout
            )
            self._kill_group(process, signal.SIGKILL)
            state.last_exit = await process.wait()
        log.info("stopped %s (exit %s)", state.spec.name, state.last_exit)

    @staticmethod
    def _kill_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def last_lines(path: str | None, count: int = LOG_TAIL_LINES) -> str:
    """The last lines of a child's log, indented, for a failure report ('' if none)."""
    if not path:
        return ""
    try:
        with open(path, "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            log_file.seek(max(0, log_file.tell() - 16384))
            lines = log_file.read().decode(errors="replace").splitlines()[-count:]
    except OSError:
        return ""
    return "".join(f"\n    | {line}" for line in lines if line.strip())
