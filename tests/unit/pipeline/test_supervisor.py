"""The supervisor runs real children: restarts crashes, stops on fatal exits, stops in order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mmstream.pipeline.supervisor import ChildFailed, ChildSpec, Supervisor

PY = sys.executable


def child(name: str, code: str, **kwargs: object) -> ChildSpec:
    return ChildSpec(name=name, argv=[PY, "-c", code], **kwargs)  # type: ignore[arg-type]


async def test_children_stop_stage_by_stage_on_sigterm(tmp_path: Path) -> None:
    order_file = tmp_path / "order"
    handler = (
        "import signal,sys,time\n"
        "def stop(*_):\n"
        f"    open({str(order_file)!r}, 'a').write(sys.argv[1] + '\\n'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"open({str(tmp_path)!r} + '/ready-' + sys.argv[1], 'w').close()\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor(str(tmp_path / "logs"))
    for name, stage in (("worker", 1), ("connector", 0), ("stack", 2)):
        await supervisor.start(
            ChildSpec(name=name, argv=[PY, "-c", handler, name], stop_stage=stage)
        )
    for name in ("worker", "connector", "stack"):
        await wait_for_file(tmp_path / f"ready-{name}")
    exits = await supervisor.stop()
    assert exits == {"worker": 0, "connector": 0, "stack": 0}
    assert order_file.read_text().split() == ["connector", "worker", "stack"]


async def test_a_crashing_child_is_restarted_then_reported(tmp_path: Path) -> None:
    supervisor = Supervisor(str(tmp_path), max_restarts=2, restart_backoff=0.01)
    await supervisor.start(child("flaky", "import sys; sys.exit(1)"))
    failure = await supervisor.wait_failure()
    assert "could not be kept running: it crashed 3 times" in str(failure)
    assert "flaky.log" in str(failure)
    assert supervisor.children["flaky"].restarts == 2
    await supervisor.stop()


async def test_crashes_outside_the_restart_window_do_not_use_up_the_budget(
    tmp_path: Path,
) -> None:
    """One restart allowed per 0.2 s; a child crashing every ~0.5 s is kept running."""
    import asyncio

    supervisor = Supervisor(
        str(tmp_path), max_restarts=1, restart_backoff=0.01, restart_window_s=0.2
    )
    await supervisor.start(child("slow-flaky", "import sys,time; time.sleep(0.5); sys.exit(1)"))
    state = supervisor.children["slow-flaky"]
    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while state.restarts < 3:
        assert loop.time() < end, "not restarted three times"
        assert supervisor.failure is None, supervisor.failure
        await asyncio.sleep(0.05)
    await supervisor.stop()


async def test_a_failure_reports_the_childs_last_log_lines(tmp_path: Path) -> None:
    supervisor = Supervisor(str(tmp_path), max_restarts=0)
    await supervisor.start(child("worker", "import sys; print('agent hedge died'); sys.exit(70)"))
    failure = str(await supervisor.wait_failure())
    assert "worker exited with 70" in failure and "worker.log" in failure
    assert "| agent hedge died" in failure
    await supervisor.stop()


async def test_a_fatal_exit_code_is_not_restarted(tmp_path: Path) -> None:
    supervisor = Supervisor(str(tmp_path), restart_backoff=0.01)
    await supervisor.start(child("auth", "import sys; sys.exit(3)"))
    failure = await supervisor.wait_failure()
    assert "exited with 3" in str(failure)
    assert supervisor.children["auth"].restarts == 0
    await supervisor.stop()


async def test_a_failing_job_raises_with_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(str(tmp_path))
    with pytest.raises(ChildFailed, match=r"load\.log"):
        await supervisor.run_job(child("load", "import sys; print('boom'); sys.exit(4)"), 30)
    assert "boom" in (tmp_path / "load.log").read_text()


async def wait_for_file(path: Path, deadline_s: float = 10.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not path.exists():
        assert loop.time() < end, f"{path} never appeared"
        await asyncio.sleep(0.02)
