"""`mmstream up --exit-when-done`: how long it waits after the scenario for the worker."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mmstream.pipeline.orchestrator import EXIT_WHEN_DONE_MARGIN_S, Orchestrator, UpOptions


def time_limit(**options: Any) -> float:
    run = SimpleNamespace(options=UpOptions(data_dir=Path("var"), duration_s=1000, **options))
    return float(Orchestrator._time_limit(run))  # type: ignore[arg-type]


def test_exit_when_done_waits_the_drain_limit_after_the_scenario_and_settle_time() -> None:
    assert time_limit(exit_when_done=True) == 1000 + 8 + EXIT_WHEN_DONE_MARGIN_S
    assert time_limit(exit_when_done=True, drain_limit_s=1800) == 1000 + 8 + 1800


def test_without_exit_when_done_the_duration_is_the_limit() -> None:
    assert time_limit(drain_limit_s=1800) == 1000
