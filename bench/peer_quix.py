"""The peer of bench/bench_agents.py: Quix Streams (run in its own venv, bench/.venv-peer) on the
hedge join's input backlog. Per record: Confluent-framed Avro decoded with fastavro (the
committed `.avsc`), the order's state in Quix's RocksDB state (changelogged), one Avro output
per input (fastavro) into an output topic. Same broker, same backlog; not the same logic (a
per-key fold, no deadlines).

    bench/.venv-peer/bin/python bench/peer_quix.py \
        BOOTSTRAP EXPECTED OUTPUT SCHEMA_DIR TOPIC_ID=NAME...

Prints `events=<n> seconds=<s> cpu=<s>`: from its first event to its EXPECTED-th (wall and
process CPU time), then exits.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import fastavro
from quixstreams import Application

OUTPUT_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "PeerFill",
        "fields": [
            {"name": "order_id", "type": "long"},
            {"name": "filled_stake", "type": "double"},
            {"name": "hedged_stake", "type": "double"},
            {"name": "updated_at", "type": "long"},
        ],
    }
)


def epoch_millis(schema: Any) -> Any:
    """The schema with `timestamp-millis` read as the long it is (as the project's decoder)."""
    if isinstance(schema, list):
        return [epoch_millis(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {k: epoch_millis(v) for k, v in schema.items() if k != "logicalType"}


def main(bootstrap: str, expected: int, output: str, schemas: Path, topics: dict[str, str]) -> None:
    readers = {
        name: fastavro.parse_schema(
            epoch_millis(json.loads((schemas / f"mmapi_{tid[:-1]}.avsc").read_text()))
        )
        for name, tid in topics.items()
    }
    seen = {"n": 0, "first": 0.0, "cpu": 0.0}
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"bench-peer-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        commit_interval=1.0,
        state_dir=tempfile.mkdtemp(prefix="bench-peer-"),
        loglevel="WARNING",
        producer_extra_config={"linger.ms": 5},
    )
    out = app.topic(output, key_serializer="bytes", value_serializer="bytes")

    def fold(name: str) -> Any:
        reader = readers[name]

        def step(value: bytes, state: Any) -> bytes:
            record: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), reader, reader)
            payload = record["payload"]
            order = state.get("order") or {"filled": 0.0, "hedged": 0.0, "at": 0}
            if "betId" in payload:
                order["hedged"] += payload.get("placedStake") or 0.0
            else:
                order["filled"] = max(order["filled"], payload.get("matchedStake") or 0.0)
            order["at"] = max(order["at"], record["envelope"]["received_at"])
            state.set("order", order)
            fill = {
                "order_id": int(payload["orderId"]),
                "filled_stake": order["filled"],
                "hedged_stake": order["hedged"],
                "updated_at": order["at"],
            }
            buffer = io.BytesIO()
            buffer.write(b"\x00\x00\x00\x00\x01")
            fastavro.schemaless_writer(buffer, OUTPUT_SCHEMA, fill)
            seen["n"] += 1
            if seen["n"] == 1:
                seen["first"], seen["cpu"] = time.monotonic(), time.process_time()
            elif seen["n"] >= expected:
                elapsed, cpu = time.monotonic() - seen["first"], time.process_time() - seen["cpu"]
                print(f"events={seen['n']} seconds={elapsed:.3f} cpu={cpu:.3f}")
                sys.stdout.flush()
                os._exit(0)
            return buffer.getvalue()

        return step

    for name in topics:
        source = app.topic(name, key_deserializer="bytes", value_deserializer="bytes")
        # Tansu's DescribeConfigs has no retention.ms, which Quix needs for its changelogs
        source.broker_config.extra_config.setdefault("retention.ms", "-1")
        app.dataframe(source).apply(fold(name), stateful=True).to_topic(out)
    app.run()


if __name__ == "__main__":
    pairs = (arg.split("=", 1) for arg in sys.argv[5:])
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), {n: i for i, n in pairs})
