"""deploy/'s alert rules and Grafana dashboard: valid, behaving as written, and naming only
metrics the code defines (so a renamed metric cannot silently empty a panel or an alert).

promtool comes from Debian's `prometheus` package (`.ci/run` installs it); without it the rules'
PromQL is still parsed (promql-parser), but their behaviour cases cannot run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry

from connectors.metrics import ConnectorMetrics
from processors.metrics import ProcessorMetrics

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "alerts.yml"
RULE_CASES = DEPLOY / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "mmstream-dashboard.json"
PROMETHEUS_OWN = {"up"}  # series Prometheus itself writes for every target
# what the issue asks the rules to cover
REQUIRED_ALERTS = {
    "MmstreamFeedSilent",
    "MmstreamConnectorDeadLetters",
    "MmstreamProcessorDeadLetters",
    "MmstreamReconnectStorm",
    "MmstreamConsumerLagGrowing",
    "MmstreamEmergencyActive",
    "MmstreamAgentStalled",
}
NO_PROMTOOL = "promtool not installed (Debian package `prometheus`; .ci/run installs it)"


def promtool() -> str | None:
    return shutil.which("promtool")


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = promtool()
    assert binary is not None
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, cwd=DEPLOY, timeout=120, check=False
    )


def rules() -> list[dict[str, Any]]:
    parsed = yaml.safe_load(RULES.read_text())
    return [rule for group in parsed["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return parsed


def dashboard_exprs() -> list[str]:
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """The series names a registry exposes (counters as `_total`, histograms by part)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    names = set()
    for family in registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def code_metric_names() -> set[str]:
    return exposed_names(ConnectorMetrics("mmapi").registry) | exposed_names(
        ProcessorMetrics().registry
    )


def selectors(node: Any) -> Iterator[str]:
    """Every metric name a parsed PromQL expression selects."""
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            yield node.name
        return
    for attribute in ("lhs", "rhs", "expr", "vector_selector", "param"):
        child = getattr(node, attribute, None)
        if child is not None:
            yield from selectors(child)
    for argument in getattr(node, "args", None) or []:
        yield from selectors(argument)


def test_the_rules_cover_what_operators_need() -> None:
    names = {rule["alert"] for rule in rules()}
    assert names >= REQUIRED_ALERTS, REQUIRED_ALERTS - names
    for rule in rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_expression_parses() -> None:
    for expr in [rule["expr"] for rule in rules()] + dashboard_exprs():
        promql_parser.parse(expr)  # raises ValueError on a syntax error


def test_every_metric_named_in_rules_and_dashboard_is_defined_in_the_code() -> None:
    defined = code_metric_names() | PROMETHEUS_OWN
    for expr in [rule["expr"] for rule in rules()] + dashboard_exprs():
        unknown = set(selectors(promql_parser.parse(expr))) - defined
        assert not unknown, f"{expr!r} names metrics the code does not define: {unknown}"


def test_the_drift_check_sees_a_renamed_metric() -> None:
    expr = "sum(rate(mmstream_connector_dlq_count_total[5m])) > 0"
    assert set(selectors(promql_parser.parse(expr))) - code_metric_names() == {
        "mmstream_connector_dlq_count_total"
    }


def test_every_alert_has_a_behaviour_case() -> None:
    cases = yaml.safe_load(RULE_CASES.read_text())["tests"]
    tested = {case["alertname"] for test in cases for case in test.get("alert_rule_test", [])}
    assert {rule["alert"] for rule in rules()} <= tested


@pytest.mark.skipif(promtool() is None, reason=NO_PROMTOOL)
def test_promtool_accepts_the_rules_and_the_prometheus_config() -> None:
    result = run_promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "10 rules found" in result.stdout + result.stderr


@pytest.mark.skipif(promtool() is None, reason=NO_PROMTOOL)
def test_alerts_fire_on_their_cases_and_stay_quiet_otherwise() -> None:
    result = run_promtool("test", "rules", RULE_CASES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_a_grafana_dashboard_on_a_chosen_prometheus() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] == "mmstream"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
    titles = " ".join(panel["title"] for panel in board["panels"]).lower()
    for topic in ("lag", "dead letters", "emergency", "last message age", "reconnects"):
        assert topic in titles, topic
