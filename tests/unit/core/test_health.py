"""The health server as a probe sees it: real HTTP on 127.0.0.1, status codes and JSON bodies."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from mmstream.core.health import CheckResult, Health, HealthServer, Heartbeat, loop_responds, serve
from mmstream.core.logging import register_secret


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    status, content_type, body = get(url)
    assert content_type == "application/json"
    parsed: dict[str, Any] = json.loads(body)
    return status, parsed


@pytest.fixture
def health() -> Health:
    return Health("connector-test")


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("mmstream_test_things", "Things", registry=registry).inc(3)
    return registry


@pytest.fixture
def server(health: Health, registry: CollectorRegistry) -> Iterator[str]:
    running: HealthServer = serve(health, registry, 0, "127.0.0.1")
    yield f"http://127.0.0.1:{running.port}"
    running.close()


def test_one_port_serves_metrics_health_and_readiness(server: str, health: Health) -> None:
    health.heartbeat()
    status, content_type, body = get(server + "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert "mmstream_test_things_total 3.0" in body
    status, health_body = get_json(server + "/healthz")
    assert status == 200
    assert health_body["component"] == "connector-test" and health_body["status"] == "alive"
    assert health_body["checks"]["event_loop"]["ok"] is True
    assert get(server + "/nothing")[0] == 404


def test_ready_only_when_every_flag_is_set(server: str, health: Health) -> None:
    session = health.flag("session", "connecting")
    kafka = health.flag("kafka", "not asked yet")
    status, body = get_json(server + "/readyz")
    assert status == 503 and body["status"] == "not ready"
    assert body["checks"]["session"] == {"ok": False, "detail": "connecting"}
    session.set(True, "streaming")
    assert get_json(server + "/readyz")[0] == 503, "kafka still unset"
    kafka.set(True, "1 broker")
    status, body = get_json(server + "/readyz")
    assert status == 200 and body["status"] == "ready"
    session.set(False, "backing_off")
    status, body = get_json(server + "/readyz")
    assert status == 503 and body["checks"]["session"]["detail"] == "backing_off"


def test_a_stale_heartbeat_is_not_alive_and_not_ready(server: str, health: Health) -> None:
    beat = health.heartbeat(stale_after_s=0.0)
    health.ready_when("always", lambda: CheckResult(True))
    beat._last -= 1.0  # the loop last beat a second ago: beyond its 0 s allowance
    status, body = get_json(server + "/healthz")
    assert status == 503 and body["checks"]["event_loop"]["ok"] is False
    assert "silent" in body["checks"]["event_loop"]["detail"]
    assert get_json(server + "/readyz")[0] == 503
    beat.stale_after_s = 60.0
    beat.beat()
    assert get_json(server + "/healthz")[0] == 200
    assert get_json(server + "/readyz")[0] == 200


def test_a_check_that_raises_fails_without_leaking_secrets(server: str, health: Health) -> None:
    register_secret("pdx_secret_key_42")

    def broken() -> CheckResult:
        raise ConnectionError("cannot reach wss://feed/v1/pdx_secret_key_42")

    health.ready_when("kafka", broken)
    status, body = get_json(server + "/readyz")
    assert status == 503
    detail = body["checks"]["kafka"]["detail"]
    assert detail.startswith("ConnectionError") and "pdx_secret_key_42" not in detail


def test_heartbeat_counts_from_its_creation() -> None:
    beat = Heartbeat(stale_after_s=60)
    assert beat().ok


def test_a_running_loop_answers_and_a_closed_one_does_not() -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    check = loop_responds(loop, timeout_s=5)
    assert check().ok
    loop.call_soon_threadsafe(time.sleep, 0.5)  # the loop is blocked for half a second
    assert not loop_responds(loop, timeout_s=0.1)().ok
    loop.call_soon_threadsafe(loop.stop)
    runner.join(5)
    loop.close()
    assert check() == CheckResult(False, "event loop closed")
