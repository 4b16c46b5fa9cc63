"""A connector's `/readyz` and `/healthz` as an orchestrator probes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmstream.core.child_process import free_port
from mmstream.stack.embedded import Broker
from tests.fixtures.simulators import quick_config
from tests.helpers.health import probe_now, status_is, wait_answer
from tests.helpers.processes import Child


async def test_ready_while_streaming_not_ready_while_kafka_stalls(
    simulators_factory: Callable[..., Any],
    run_connector: Callable[..., Child],
    broker_control: Broker,
) -> None:
    sims = await simulators_factory(quick_config(duration_s=120, rate=20.0))
    port = free_port()
    connector = run_connector(
        "predexon", sims, PREDEXON_METRICS_PORT=str(port), PREDEXON_METRICS_HOST="127.0.0.1"
    )
    base = f"http://127.0.0.1:{port}"
    _, body = await wait_answer(base + "/readyz", status_is(200), 60, "connector ready")
    assert body["checks"]["session"] == {"ok": True, "detail": "streaming"}
    assert body["checks"]["kafka"]["ok"] is True

    broker_control.pause()
    try:
        _, body = await wait_answer(
            base + "/readyz", status_is(503), 30, "not ready while the broker is stalled"
        )
        assert body["checks"]["kafka"]["ok"] is False, body
        alive, _ = probe_now(base + "/healthz")
        assert alive == 200, "a stalled Kafka is no reason to restart the connector"
    finally:
        broker_control.resume()
    await wait_answer(base + "/readyz", status_is(200), 60, "ready again after the stall")
    assert await connector.stop() == 0, connector.output[-2000:]
