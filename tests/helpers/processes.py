"""Running mmstream commands as real child processes in tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

MMSTREAM = [sys.executable, "-m", "mmstream.cli"]


class Child:
    """An `mmstream …` process with its output in a file; stopped with SIGTERM."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MMAPI_", "PREDEXON_", "MMSTREAM_"))
        }
        full_env.update(env)
        self.process = subprocess.Popen(
            [*MMSTREAM, *args],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait(self, deadline_s: float = 30.0) -> int:
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while self.process.poll() is None:
            assert loop.time() < end, f"process still running after {deadline_s}s:\n{self.output}"
            await asyncio.sleep(0.05)
        self._log.close()
        return self.process.returncode

    async def stop(self, deadline_s: float = 40.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.wait(deadline_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


async def wait_for(predicate: object, deadline_s: float, what: str) -> None:
    """Poll `predicate()` until true, failing after `deadline_s`."""
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not predicate():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
