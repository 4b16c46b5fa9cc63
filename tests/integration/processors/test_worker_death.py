"""A worker whose agent dies exits non-zero, `mmstream up` restarts it, and nothing is lost.

How the agent dies: a real dependency failure, not a hook. The registry answers 503 for one
writer schema id (every pipeline process talks to the registry through a small HTTP proxy in
this test), and a record written with that id arrives. The record is fine, so it must not be
dead-lettered: the decoder raises `RegistryUnavailable`, the hedge join's task ends, and the
worker exits with 70. Once the registry answers again the restarted worker reads the record (an
older, BACKWARD-compatible writer schema: it gets the reader schema's default) and no fill of
the run is lost.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from connectors.publisher import Connection
from connectors.records import change_record
from mmstream.core.settings import TopicSettings
from schemas import load_schema_dict
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume_until, decoder_for, produce, read_to_end
from tests.helpers.processes import Child, wait_for
from tests.integration.processors.test_dead_letters import UP_SETTINGS

ORDER_ID = 990_002


class FlakyRegistry:
    """Forwards every request to the real registry, except `GET /schemas/ids/<id>` for the ids
    in `failing`, answered with 503 (a registry being restarted, say)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.failing: set[int] = set()
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self, "GET")

            def do_POST(self) -> None:
                proxy.forward(self, "POST")

            def do_PUT(self) -> None:
                proxy.forward(self, "PUT")

            def do_DELETE(self) -> None:
                proxy.forward(self, "DELETE")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, request: BaseHTTPRequestHandler, method: str) -> None:
        found = re.fullmatch(r"/schemas/ids/(\d+)", request.path.split("?")[0])
        if method == "GET" and found and int(found.group(1)) in self.failing:
            self.refused += 1
            self.reply(request, 503, b'{"error_code":50003,"message":"unavailable"}', None)
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        upstream = urllib.request.Request(self.upstream + request.path, body, method=method)
        for name in ("Content-Type", "Accept", "Authorization"):
            if request.headers.get(name):
                upstream.add_header(name, request.headers[name])
        try:
            with urllib.request.urlopen(upstream, timeout=10) as response:
                self.reply(request, response.status, response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            self.reply(request, exc.code, exc.read(), exc.headers)

    @staticmethod
    def reply(request: BaseHTTPRequestHandler, status: int, body: bytes, headers: Any) -> None:
        request.send_response(status)
        content_type = headers.get("Content-Type") if headers else None
        request.send_header("Content-Type", content_type or "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


@pytest.fixture
def flaky_registry(cluster: TestCluster) -> Iterator[FlakyRegistry]:
    proxy = FlakyRegistry(cluster.registry_url)
    proxy.thread.start()
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


def committed_offset(cluster: TestCluster, group: str, tp: TopicPartition) -> int:
    admin = AdminClient({"bootstrap.servers": cluster.target.bootstrap_servers})
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(tp.topic, tp.partition)])]
    result = admin.list_consumer_group_offsets(request)[group].result(10)
    return int(result.topic_partitions[0].offset)


def older_order_schema() -> dict[str, Any]:
    """The order schema as it was before `envelope.origin` (default LIVE) was added."""
    schema = copy.deepcopy(load_schema_dict("mmapi_order"))
    envelope = next(f for f in schema["fields"] if f["name"] == "envelope")["type"]
    envelope["fields"] = [f for f in envelope["fields"] if f["name"] != "origin"]
    return schema


def older_order(schema_id: int) -> bytes:
    at = int(time.time() * 1000)
    envelope = Connection(connection_id="c", subscription_id="1").envelope("mmapi", at, at, "LIVE")
    del envelope["origin"]
    payload = {
        "orderId": ORDER_ID,
        "client": "desk",
        "fixtureId": "f",
        "orderStake": 100.0,
        "orderCents": 0.45,
        "matchedStake": 100.0,
        "matchedAt": at,
        "orderStatus": "FILLED",
        "updatedAt": at,
    }
    record = change_record(envelope, "UPDATE", payload)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(older_order_schema()), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()


async def test_a_worker_whose_agent_dies_exits_non_zero_and_up_restarts_it(
    cluster: TestCluster,
    topics: TopicSettings,
    flaky_registry: FlakyRegistry,
    tmp_path: Path,
) -> None:
    registry = SchemaRegistryClient({"url": cluster.registry_url})
    older_id = registry.register_schema(
        "procfail-older-orders-value", Schema(json.dumps(older_order_schema()))
    )
    flaky_registry.failing.add(older_id)
    env = {
        **cluster.env(topics),
        **UP_SETTINGS,
        "MMSTREAM_SCHEMA_REGISTRY_URL": flaky_registry.url,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_APP_ID": f"death-{tmp_path.name}",
    }
    up = Child(
        [
            *("up", "--no-view", "--seed", "3", "--rate", "60", "--duration", "20"),
            *("--exit-when-done", "--summary-interval", "2"),
        ],
        env,
        tmp_path / "up.log",
    )
    fills = topics.name("hedge_fills")
    try:
        await asyncio.to_thread(consume_until, cluster.target, fills, bool, 90, lambda b: b)
        produce(cluster.target, topics.name("orders"), [(str(ORDER_ID), older_order(older_id))])
        met = next(
            TopicPartition(m.topic() or "", m.partition() or 0, m.offset() or 0)
            for key, _, m in read_to_end(cluster.target, topics.name("orders"), deadline_s=30)
            if key == str(ORDER_ID)
        )
        await wait_for(lambda: "worker exited with 70" in up.output, 90, "the worker's exit")
        committed = committed_offset(cluster, env["MMSTREAM_PROCESSOR_APP_ID"], met)
        assert committed <= met.offset, ("the record the worker died on was committed", committed)
        flaky_registry.failing.clear()
        decode = decoder_for(cluster.registry_url, topics)
        records = await asyncio.to_thread(
            consume_until,
            cluster.target,
            fills,
            lambda rs: any(v["order_id"] == ORDER_ID for _, v in rs),
            120,
            lambda data: decode(data, fills),
        )
        code = await up.wait(240)
    finally:
        up.kill()
    worker_log = (tmp_path / "logs" / "worker.log").read_text(errors="replace")
    assert "agent" in worker_log and "RegistryUnavailable" in worker_log, worker_log[-2000:]
    assert flaky_registry.refused >= 1
    assert code == 0, up.output[-3000:]
    assert re.search(r"worker=0 \(restarted \d+x\)", up.output), up.output[-1500:]
    fill = next(v for _, v in records if v["order_id"] == ORDER_ID)
    assert fill["filled_stake"] == 100.0, "the record that met the outage was not lost"
    assert_no_fill_lost(cluster, topics)


def assert_no_fill_lost(cluster: TestCluster, topics: TopicSettings) -> None:
    """Every order the raw topic shows filled has its latest fill in `hedge.fills`: nothing
    read before, during or after the worker's death was lost. (Checked against the input that
    reached Kafka rather than the scenario: a connector slow to connect under load misses the
    scenario's first seconds, which is not this test's subject.) Called once `up` exited: both
    topics are read up to their end offsets."""
    decode = decoder_for(cluster.registry_url, topics)
    orders, fills = topics.name("orders"), topics.name("hedge_fills")
    matched: dict[int, float] = {}
    for _, value, _ in read_to_end(cluster.target, orders, lambda b: decode(b, orders), 30):
        payload = value["payload"]
        if payload.get("matchedStake"):
            order_id = payload["orderId"]
            matched[order_id] = max(matched.get(order_id, 0.0), payload["matchedStake"])
    latest = {
        value["order_id"]: value
        for _, value, _ in read_to_end(cluster.target, fills, lambda b: decode(b, fills), 30)
    }
    assert len(matched) > 20, matched
    wrong = {o: (m, latest.get(o, {}).get("filled_stake")) for o, m in matched.items()}
    assert {o: v for o, v in wrong.items() if v[0] != v[1]} == {}, "fills lost or stale"
