"""No secret, wherever it comes from, reaches `stack.json` nor what a connector serves on its
metrics port (`/metrics`, `/healthz`, `/readyz`), in clear, URL-encoded or base64 (the worker's
port: `tests/integration/processors/test_secrets_metrics.py`, it needs a broker to be built).

Each case sets one secret in the environment (`tests/fixtures/secrets.py`), builds the stack
file and the metrics server as `mmstream up` and `mmstream connect` do from settings, and reads
back what a user or a scraper sees: the file, the real HTTP endpoints on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from connectors.metrics import ConnectorMetrics
from connectors.offsets import SourceOffsets
from connectors.publisher import Publisher
from connectors.runner import feed_settings, make_protocol
from connectors.sink import KafkaSink
from mmstream.core.runtime import resolve_runtime
from mmstream.core.stackfile import STACK_FILE
from mmstream.pipeline.orchestrator import Orchestrator, UpOptions
from schemas.serde import AvroSerde
from tests.fixtures.secrets import SOURCES, SecretSource, leaks, scrape, set_deployment


@pytest.fixture(params=list(SOURCES), ids=list(SOURCES))
def source(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SecretSource:
    chosen = SOURCES[request.param]
    set_deployment(chosen, monkeypatch, tmp_path)
    return chosen


def test_no_secret_reaches_stack_json(source: SecretSource, tmp_path: Path) -> None:
    up = Orchestrator(UpOptions(data_dir=tmp_path / "var", live_view=False))
    up._publish_endpoints()
    text = (tmp_path / "var" / STACK_FILE).read_text()
    assert json.loads(text)["endpoints"], "the file read is the one `up` writes"
    assert leaks(text, source) == []


def test_no_secret_reaches_a_connectors_metrics_port(source: SecretSource) -> None:
    async def serve_and_scrape() -> str:
        settings = feed_settings(source.feed)
        runtime = resolve_runtime()
        serde = AvroSerde(SchemaRegistryClient(runtime.registry_config()), runtime.topics)
        metrics = ConnectorMetrics(source.feed)
        server = metrics.serve(0, "127.0.0.1")
        sink = KafkaSink(runtime.target, serde, runtime.topics, metrics, settings.max_in_flight)
        offsets = SourceOffsets(source.feed, sink, settings.offset_flush_interval_s)
        protocol = make_protocol(
            source.feed, settings, Publisher(source.feed, sink, metrics, offsets), metrics
        )
        sink.start()  # adds the Kafka readiness check (it fails: no broker) and the liveness
        try:
            metrics.message("orders")
            metrics.delivered("mmapi.orders", 1)
            metrics.frame("published")
            return await asyncio.to_thread(scrape, server.port)
        finally:
            server.close()
            await protocol.close()
            await sink.flush(0.1)

    text = asyncio.run(serve_and_scrape())
    assert "mmstream_connector_messages_received_total" in text
    assert '"kafka": {"ok": false' in text, "the readiness answer read includes Kafka's check"
    assert leaks(text, source) == []
