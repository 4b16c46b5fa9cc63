"""A key whose per-key step raises after a batch (the hedge join's evaluate / finish): its records
go to `processors.dlq` with their original bytes, key and Connect headers, counted per agent
and reason, and the worker goes on with every other order (issue #14: no record stops an
agent; before, this ended the worker in a crash loop).

The fault is the documented hook `MMSTREAM_PROCESSOR_TEST_FAIL_KEYS=finish:<key>`: the shared
batch mechanism raises in that key's per-key step, after its records were folded in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mmstream.core.child_process import free_port
from mmstream.core.deadletter import header_map
from mmstream.core.settings import TopicSettings
from mmstream.view.sources import scrape
from schemas.serde import AvroSerde
from schemas.values import plain
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume, consume_until, read_to_end, wait_committed
from tests.helpers.processes import Child, wait_for
from tests.integration.processors.test_worker_restart import FIRST, bet, ends_of, filled, send

ORDERS = list(range(3000, 3010))
FAULTY = 3004


def dead_letter_count(url: str, agent: str, reason: str) -> float:
    samples = scrape(url) or {}
    return sum(
        value
        for labels, value in samples.get("mmstream_processor_dead_letters_total", [])
        if labels.get("agent") == agent and labels.get("reason") == reason
    )


async def test_a_key_whose_per_key_step_raises_is_dead_lettered_and_the_rest_processed(
    cluster: TestCluster, topics: TopicSettings, serde: AvroSerde, tmp_path: Path
) -> None:
    port = free_port()
    app_id = f"keyfail-{tmp_path.name[-20:]}"
    env = {
        **cluster.env(topics),
        "MMSTREAM_PROCESSOR_APP_ID": app_id,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": "600",
        "MMSTREAM_PROCESSOR_METRICS_PORT": str(port),
        "MMSTREAM_PROCESSOR_TEST_FAIL_KEYS": f"finish:{FAULTY}",
    }
    send(cluster, topics, serde, "orders", [filled(o) for o in ORDERS])
    send(cluster, topics, serde, "bets", [bet(o, second=False) for o in ORDERS])
    ends = {
        **ends_of(cluster, topics.name("orders"), len(ORDERS)),
        **ends_of(cluster, topics.name("bets"), len(ORDERS)),
    }
    good = [o for o in ORDERS if o != FAULTY]

    def decode(data: bytes) -> Any:
        return plain(serde.decode("hedge_fills", data))

    def all_good_hedged(records: list[tuple[str | None, Any]]) -> bool:
        latest = {value["order_id"]: value for _, value in records}
        return all(latest.get(o, {}).get("hedged_stake") == FIRST for o in good)

    worker = Child(["process"], env, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        fills = await asyncio.to_thread(
            consume_until, cluster.target, topics.name("hedge_fills"), all_good_hedged, 120, decode
        )
        await wait_committed(cluster.target, app_id, ends)  # it went on past the faulty key
        await wait_for(
            lambda: dead_letter_count(url, "hedge", "processing_error") >= 2,
            30,
            "the faulty key's two records counted as dead letters of the hedge join",
        )
        assert worker.process.poll() is None, worker.output[-3000:]
    finally:
        assert await worker.stop() == 0, worker.output[-3000:]

    assert all(key != str(FAULTY) for key, _ in fills), "the faulty order has no hedge.fills"
    # the worker stopped: its dead letters are read up to their end offsets
    dead = read_to_end(cluster.target, topics.name("processors_dlq"), deadline_s=30)
    assert sorted(key or "" for key, _, _ in dead) == [str(FAULTY)] * 2, "exactly its 2 records"
    originals = {
        message.topic(): value
        for topic_id in ("orders", "bets")
        for key, value, message in consume(cluster.target, topics.name(topic_id), len(ORDERS))
        if key == str(FAULTY)
    }
    for _, value, message in dead:
        headers = header_map(message.headers())
        assert value == originals[headers["topic"]], "the original bytes"
        assert headers["stage"] == "TASK_PUT", headers
        assert headers["connector.name"] == "hedge", headers
        assert headers["exception.class.name"].endswith(".InjectedFault"), headers
        assert "Traceback" in headers["exception.stacktrace"], headers
