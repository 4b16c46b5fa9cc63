"""Poison records into every raw input topic while `mmstream up` runs: every agent goes on, each
poison record is in `processors.dlq` with its original bytes and key and Kafka Connect's
headers, the dead letters are counted per agent, and the derived topics still equal the
scenario's ground truth.

The poison classes: plain bytes; the magic byte followed by garbage; an unknown schema id;
bytes that do not decode under their (known) writer schema; a valid Avro record of another
shape (a required field missing, wrong types); and one valid order whose processing raises in
the agent (the documented fault hook `MMSTREAM_PROCESSOR_TEST_FAIL_KEYS`: the agent's logic
reads a record that raises, as a bug triggered by one record would).
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any, cast

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from connectors.publisher import Connection
from connectors.records import change_record
from mmstream.core.deadletter import header_map
from mmstream.core.settings import TopicSettings
from mmstream.simulators import GroundTruth
from schemas.serde import AvroSerde
from tests.fixtures.kafka import TestCluster
from tests.helpers.kafka import consume_until, produce, read_to_end
from tests.helpers.processes import Child
from tests.helpers.truth import assert_derived_equal_truth

RAW_TOPICS = {  # topic id -> the agent reading it (its metrics label)
    "orders": "hedge",
    "bets": "hedge",
    "accounts": "emergency",
    "emergency": "emergency",
    "scores": "score-router",
    "sports_live": "score-router",
}
STRANGER = {
    "type": "record",
    "name": "Stranger",
    "namespace": "elsewhere",
    "fields": [{"name": "orderId", "type": "string"}, {"name": "note", "type": "string"}],
}
FAULTY_KEY = "poison-logic"
FAULTY_ORDER_ID = 990_001
UP_SETTINGS = {
    "MMSTREAM_PROCESSOR_HEDGE_DEADLINE_S": "4",
    "MMSTREAM_PROCESSOR_MAX_LAG_S": "10",
    "MMSTREAM_PROCESSOR_CONFLICT_GRACE_S": "1.5",
    "MMSTREAM_PROCESSOR_RESOLVE_HYSTERESIS_S": "1.5",
    "MMSTREAM_PROCESSOR_TICK_INTERVAL_S": "0.2",
}


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def poison_records(
    registry: SchemaRegistryClient, topics: TopicSettings, serde: AvroSerde, topic_id: str
) -> dict[str, tuple[bytes, str]]:
    """Key -> (value bytes, the exception class expected in the dead letter)."""
    own_id = registry.get_latest_version(f"{topics.name(topic_id)}-value").schema_id or 0
    stranger_id = registry.register_schema("procfail-stranger-value", Schema(json.dumps(STRANGER)))
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body, fastavro.parse_schema(dict(STRANGER)), {"orderId": "x", "note": "not an order"}
    )
    return {
        f"plain-{topic_id}": (b"plain bytes, not Avro", "NotConfluentFramed"),
        f"magic-{topic_id}": (b"\x00garbage after the magic byte", "UnknownSchemaId"),
        f"unknown-{topic_id}": (framed(987_654_321, b"\x02ab"), "UnknownSchemaId"),
        f"undecodable-{topic_id}": (framed(own_id, b"\xff" * 12), "UndecodableBytes"),
        f"stranger-{topic_id}": (framed(stranger_id, body.getvalue()), "SchemaMismatch"),
    }


def faulty_order(serde: AvroSerde) -> bytes:
    now = 1_771_149_600_000
    envelope = Connection(connection_id="c", subscription_id="1").envelope(
        "mmapi", now, now, "LIVE"
    )
    payload = {
        "orderId": FAULTY_ORDER_ID,
        "client": "desk",
        "fixtureId": "f",
        "orderStake": 100.0,
        "orderCents": 0.45,
        "matchedStake": 100.0,
        "matchedAt": now,
        "orderStatus": "FILLED",
        "updatedAt": now,
    }
    return serde.encode("orders", change_record(envelope, "UPDATE", payload))


def final_summary(output: str) -> str:
    return [line for line in output.splitlines() if line.startswith("feeds[")][-1]


async def test_poison_records_are_dead_lettered_and_every_agent_goes_on(
    cluster: TestCluster, topics: TopicSettings, serde: AvroSerde, tmp_path: Path
) -> None:
    env = {
        **cluster.env(topics),
        **UP_SETTINGS,
        "MMSTREAM_DATA_DIR": str(tmp_path),
        "MMSTREAM_PROCESSOR_APP_ID": f"poison-{tmp_path.name}",
        "MMSTREAM_PROCESSOR_TEST_FAIL_KEYS": FAULTY_KEY,
    }
    up = Child(
        [
            *("up", "--no-view", "--seed", "3", "--rate", "60", "--duration", "20"),
            *("--exit-when-done", "--summary-interval", "2"),
        ],
        env,
        tmp_path / "up.log",
    )
    registry = SchemaRegistryClient({"url": cluster.registry_url})
    expected: dict[tuple[str, str], tuple[bytes, str, str]] = {}  # (topic, key) -> bytes, class
    try:
        # poison once the hedge join has produced: the run goes on well after it
        await asyncio.to_thread(
            consume_until, cluster.target, topics.name("hedge_fills"), bool, 90, lambda b: b
        )
        for topic_id, agent in RAW_TOPICS.items():
            records = poison_records(registry, topics, serde, topic_id)
            for key, (value, exc_class) in records.items():
                expected[(topics.name(topic_id), key)] = (value, exc_class, agent)
            produce(
                cluster.target, topics.name(topic_id), [(k, v) for k, (v, _) in records.items()]
            )
        faulty = faulty_order(serde)
        expected[(topics.name("orders"), FAULTY_KEY)] = (faulty, "InjectedFault", "hedge")
        produce(cluster.target, topics.name("orders"), [(FAULTY_KEY, faulty)])
        code = await up.wait(240)
    finally:
        up.kill()
    assert code == 0, up.output[-3000:]
    assert "scenario sent and processed" in up.output

    # `up` exited: every topic is read up to its end offsets (nothing more is coming)
    dead = read_to_end(cluster.target, topics.name("processors_dlq"), deadline_s=30)
    by_origin: dict[tuple[str, str | None], tuple[Any, dict[str, str]]] = {}
    for dead_key, value, message in dead:
        headers = header_map(cast(list[tuple[str, bytes | None]], message.headers()))
        by_origin[(headers["topic"], dead_key)] = (value, headers)
    assert set(by_origin) == set(expected), "exactly the poison records, each once"
    sources = {
        (name, key): message
        for name in {topic for topic, _ in expected}
        for key, _, message in read_to_end(cluster.target, name, deadline_s=30)
    }
    for origin, (value, exc_class, agent) in expected.items():
        dead_value, headers = by_origin[origin]
        assert dead_value == value, ("original bytes", origin)
        source = sources[origin]
        assert headers["partition"] == str(source.partition()), origin
        assert headers["offset"] == str(source.offset()), origin
        assert headers["connector.name"] == agent, origin
        assert headers["exception.class.name"].endswith("." + exc_class), (origin, headers)
        stage = "TASK_PUT" if exc_class == "InjectedFault" else "VALUE_CONVERTER"
        assert headers["stage"] == stage and headers["task.id"] == "0", origin
        assert headers["class.name"] and headers["exception.message"], origin
        assert "Traceback" in headers["exception.stacktrace"], origin

    # every agent went on: counted per agent, and the derived topics are the ground truth's
    summary = final_summary(up.output)
    assert "hedge=" in summary and "hedge=0>" not in summary, summary
    for agent, count in (("hedge", 11), ("emergency", 10), ("score-router", 10)):
        assert f"dlq={count}" in summary.split(f"{agent}=")[1].split(" ")[0], (agent, summary)
    truth = GroundTruth.read(tmp_path / "simulators" / "ground_truth.json")
    assert_derived_equal_truth(cluster, topics, truth, 4)
    fills = read_to_end(cluster.target, topics.name("hedge_fills"), deadline_s=30)
    assert fills and all(key != str(FAULTY_ORDER_ID) for key, _, _ in fills), (
        "the faulty order was skipped"
    )
