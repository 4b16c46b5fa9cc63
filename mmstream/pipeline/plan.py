"""Which processes make up `mmstream up`, with their command lines and settings."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmstream.core.child_process import free_port
from mmstream.core.errors import ConfigurationError
from mmstream.core.health import HEALTH_PATH, METRICS_PATH, READY_PATH
from mmstream.core.settings import env_file_value
from mmstream.pipeline.supervisor import ChildSpec

MMSTREAM = [sys.executable, "-m", "mmstream.cli"]
# stop order: connectors flush first, then the worker, then the simulators
STAGE_CONNECTORS, STAGE_WORKER, STAGE_SIMULATORS = 0, 1, 2


# the child's own setting: set in the environment, `up` uses that port; else a free one
PORT_VARIABLES = {
    "mmapi": "MMAPI_METRICS_PORT",
    "predexon": "PREDEXON_METRICS_PORT",
    "worker": "MMSTREAM_PROCESSOR_METRICS_PORT",
}
CHILD_NAMES = {"mmapi": "connector-mmapi", "predexon": "connector-predexon", "worker": "worker"}


def fixed_or_free_port(variable: str) -> int:
    """The port `variable` sets (environment first, then `.env`, as the child reads it)."""
    value = os.environ.get(variable) or env_file_value(variable) or ""
    value = value.strip()
    if not value or value == "0":
        return free_port()
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigurationError(f"{variable}: expected a port number, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class FeedEndpoints:
    """Where a connector connects: simulator addresses, or none (the real provider)."""

    env: dict[str, str]


@dataclass
class Plan:
    """The processes of one `mmstream up` run."""

    data_dir: Path
    simulated: bool
    mmapi: bool
    predexon: bool
    metrics_ports: dict[str, int]

    @classmethod
    def from_environment(cls, data_dir: Path) -> Plan:
        has_mmapi = bool(os.environ.get("MMAPI_API_KEY"))
        has_predexon = bool(os.environ.get("PREDEXON_API_KEY"))
        simulated = not has_mmapi and not has_predexon
        return cls(
            data_dir=data_dir,
            simulated=simulated,
            mmapi=simulated or has_mmapi,
            predexon=simulated or has_predexon,
            metrics_ports={name: fixed_or_free_port(var) for name, var in PORT_VARIABLES.items()},
        )

    @property
    def simulator_dir(self) -> Path:
        return self.data_dir / "simulators"

    @property
    def simulator_info(self) -> Path:
        return self.simulator_dir / "info.json"

    def simulators(self, seed: int, rate: float, duration_s: float | None) -> ChildSpec:
        """The simulators' child; `duration_s` None = a scenario with no end."""
        argv = [
            *MMSTREAM,
            "simulate",
            "--seed",
            str(seed),
            "--rate",
            str(rate),
            "--duration",
            str(duration_s or 0),
            "--out-dir",
            str(self.simulator_dir),
            "--info-file",
            str(self.simulator_info),
            "--play-when-subscribed",  # the connectors start after the simulators
        ]
        return ChildSpec("simulators", argv, stop_stage=STAGE_SIMULATORS)

    def connector(self, feed: str, simulator: dict[str, Any] | None) -> ChildSpec:
        prefix = "MMAPI_" if feed == "mmapi" else "PREDEXON_"
        env = {f"{prefix}METRICS_PORT": str(self.metrics_ports[feed])}
        if simulator is not None:
            env.update(
                {
                    f"{prefix}API_KEY": simulator[f"{feed}_api_key"],
                    f"{prefix}WS_URL": simulator[f"{feed}_ws_url"],
                    f"{prefix}REST_URL": simulator[f"{feed}_rest_url"],
                }
            )
        return ChildSpec(
            f"connector-{feed}",
            [*MMSTREAM, "connect", feed],
            env,
            stop_stage=STAGE_CONNECTORS,
            stop_timeout=40.0,
        )

    def worker(self) -> ChildSpec:
        env = {"MMSTREAM_PROCESSOR_METRICS_PORT": str(self.metrics_ports["worker"])}
        return ChildSpec(
            "worker", [*MMSTREAM, "process"], env, stop_stage=STAGE_WORKER, stop_timeout=30.0
        )

    def fixture_load(self, path: str) -> ChildSpec:
        return ChildSpec(
            "fixtures", [*MMSTREAM, "fixtures", "load", path], restart=False, oneshot=True
        )

    def metrics_urls(self) -> dict[str, str]:
        """Feed or "worker" → its metrics URL (what the live view scrapes)."""
        parts = [f for f in ("mmapi", "predexon") if getattr(self, f)] + ["worker"]
        return {part: self._url(part, METRICS_PATH) for part in parts}

    def endpoints(self) -> dict[str, dict[str, str]]:
        """Child name → its metrics, health (alive) and readiness URLs (for `stack.json`)."""
        return {
            CHILD_NAMES[part]: {
                "metrics": url,
                "health": self._url(part, HEALTH_PATH),
                "ready": self._url(part, READY_PATH),
            }
            for part, url in self.metrics_urls().items()
        }

    def _url(self, part: str, path: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[part]}{path}"
