"""Health endpoints of a long-running component, beside its metrics, on one HTTP port.

- `GET /healthz`: alive. Every liveness check passes (the component's event loop answers a
  callback, or keeps beating from a timer). A supervisor restarts a component that stays not
  alive.
- `GET /readyz`: ready to do its job. Every readiness check the component's wiring registered
  passes (a connector: streaming and reaching Kafka; a worker: assigned, recovered, lag bounded).
- `GET /metrics`: the component's Prometheus registry.

Both health answers are JSON: `{"component", "status", "checks": {name: {"ok", "detail"}}}`,
HTTP 200 when every check passes, else 503. Checks run in the server's thread at request time,
so a check reads state (flags, attributes) and never awaits the component's loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mmstream.core.logging import redact

log = logging.getLogger(__name__)
HEALTH_PATH, READY_PATH, METRICS_PATH = "/healthz", "/readyz", "/metrics"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str = ""


Check = Callable[[], CheckResult]


class Flag:
    """A condition the component's wiring sets as it changes (e.g. "recovery done")."""

    def __init__(self, detail: str, ok: bool = False) -> None:
        self._result = CheckResult(ok, detail)

    def set(self, ok: bool, detail: str = "") -> None:
        self._result = CheckResult(ok, detail)

    def __call__(self) -> CheckResult:
        return self._result


class Heartbeat:
    """Alive while the component's event loop beats at least every `stale_after_s` seconds."""

    def __init__(self, stale_after_s: float = 60.0) -> None:
        self.stale_after_s = stale_after_s
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    def __call__(self) -> CheckResult:
        silent_s = time.monotonic() - self._last
        if silent_s > self.stale_after_s:
            return CheckResult(False, f"event loop silent for {silent_s:.0f} s")
        return CheckResult(True, f"event loop beat {silent_s:.1f} s ago")

    async def run(self, interval_s: float = 1.0) -> None:
        """Beat from the loop being watched until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(interval_s)


def loop_responds(loop: asyncio.AbstractEventLoop, timeout_s: float = 10.0) -> Check:
    """Alive while `loop` runs a callback handed to it within `timeout_s`."""

    def check() -> CheckResult:
        answered = threading.Event()
        started = time.monotonic()
        try:
            loop.call_soon_threadsafe(answered.set)
        except RuntimeError:
            return CheckResult(False, "event loop closed")
        if not answered.wait(timeout_s):
            return CheckResult(False, f"event loop did not answer within {timeout_s:.0f} s")
        return CheckResult(True, f"event loop answered in {time.monotonic() - started:.3f} s")

    return check


class Health:
    """The liveness and readiness checks of one component."""

    def __init__(self, component: str) -> None:
        self.component = component
        self.liveness: dict[str, Check] = {}
        self.readiness: dict[str, Check] = {}

    def alive_when(self, name: str, check: Check) -> None:
        self.liveness[name] = check

    def ready_when(self, name: str, check: Check) -> None:
        self.readiness[name] = check

    def flag(self, name: str, detail: str) -> Flag:
        """A readiness flag, false until the wiring sets it."""
        flag = Flag(detail)
        self.ready_when(name, flag)
        return flag

    def heartbeat(self, stale_after_s: float = 60.0) -> Heartbeat:
        beat = Heartbeat(stale_after_s)
        self.alive_when("event_loop", beat)
        return beat

    def report(self, checks: dict[str, Check], good: str, bad: str) -> tuple[bool, dict[str, Any]]:
        results = {name: run_check(check) for name, check in sorted(checks.items())}
        ok = all(result.ok for result in results.values())
        body = {
            "component": self.component,
            "status": good if ok else bad,
            "checks": {n: {"ok": r.ok, "detail": r.detail} for n, r in results.items()},
        }
        return ok, body

    def alive(self) -> tuple[bool, dict[str, Any]]:
        return self.report(self.liveness, "alive", "not alive")

    def ready(self) -> tuple[bool, dict[str, Any]]:
        ok, body = self.report(self.readiness, "ready", "not ready")
        if ok:
            alive, _ = self.alive()
            if not alive:  # a component that is not alive cannot be ready
                body["status"] = "not ready"
                body["checks"]["alive"] = {"ok": False, "detail": "liveness checks fail"}
                return False, body
        return ok, body


def run_check(check: Check) -> CheckResult:
    try:
        return check()
    except Exception as exc:  # a failing check is a failed check, never a failed server
        return CheckResult(False, redact(f"{type(exc).__name__}: {exc}"))


class HealthServer:
    """`/healthz`, `/readyz` and `/metrics` on one port, served from a daemon thread."""

    def __init__(self, health: Health, registry: CollectorRegistry, port: int, host: str) -> None:
        handler = type("Handler", (_Handler,), {"health": health, "registry": registry})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )
        self._thread.start()
        log.info("health and metrics on port %d (%s, %s, %s)", self.port, *ALL_PATHS)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


ALL_PATHS = (HEALTH_PATH, READY_PATH, METRICS_PATH)


class _Handler(BaseHTTPRequestHandler):
    health: Health
    registry: CollectorRegistry

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == METRICS_PATH:
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.registry))
        elif path in (HEALTH_PATH, READY_PATH):
            ok, body = self.health.alive() if path == HEALTH_PATH else self.health.ready()
            self._send(200 if ok else 503, "application/json", json.dumps(body).encode())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found; try " + _paths())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes come every few seconds: not worth a log line each."""


def _paths() -> bytes:
    return ", ".join(ALL_PATHS).encode()


def kafka_reachable(client_of: Callable[[], Any], timeout_s: float = 2.0) -> Check:
    """A check that a metadata request of the client (producer or admin) is answered."""

    def check() -> CheckResult:
        metadata = client_of().list_topics(timeout=timeout_s)
        return CheckResult(True, f"{len(metadata.brokers)} broker(s) answered metadata")

    return check


def serve(
    health: Health, registry: CollectorRegistry, port: int, host: str = "0.0.0.0"
) -> HealthServer:
    """Start serving; `port` 0 picks a free one (see `HealthServer.port`)."""
    return HealthServer(health, registry, port, host)
