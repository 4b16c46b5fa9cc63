"""No secret, wherever it comes from, reaches what a worker serves on its metrics port
(`/metrics`, `/healthz`, `/readyz`), in clear, URL-encoded or base64: the worker is built as
`mmstream process` builds it (on the session broker: its build asks the cluster's size)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.runtime import resolve_runtime
from mmstream.core.settings import load_settings
from processors.health import worker_health
from processors.settings import ProcessorSettings
from processors.worker import build_app
from tests.fixtures.secrets import SOURCES, leaks, scrape, set_deployment


@pytest.mark.parametrize("source_id", list(SOURCES))
def test_no_secret_reaches_a_workers_metrics_port(
    source_id: str,
    kafka_target: ClusterTarget,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = SOURCES[source_id]
    set_deployment(source, monkeypatch, tmp_path, bootstrap=kafka_target.bootstrap_servers)
    pipeline = build_app(load_settings(ProcessorSettings), resolve_runtime())
    health = worker_health(pipeline)
    pipeline.metrics.records_in.labels("hedge_join").inc()
    server = pipeline.metrics.serve(0, health, "127.0.0.1")
    try:
        text = scrape(server.port)
    finally:
        server.close()
    assert "mmstream_processor_records_in_total" in text
    assert '"recovery": {"ok": false' in text, "the readiness answer read is the worker's"
    assert leaks(text, source) == []
