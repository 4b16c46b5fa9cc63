"""Loading fixture mappings (CSV / JSON files) into the compacted `reference.fixture_map`."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from mmstream.core.errors import ConfigurationError
from mmstream.core.kafka.config import producer_config
from mmstream.core.runtime import Runtime, resolve_runtime
from schemas.serde import AvroSerde

REQUIRED = ("fixtureId", "game_id")


def load_fixture_file(path: str | Path) -> list[dict[str, Any]]:
    """Parse a mapping file; every row needs fixtureId and game_id."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        rows = json.loads(text)
        if isinstance(rows, dict):
            rows = rows.get("mappings") or [{"fixtureId": k, "game_id": v} for k, v in rows.items()]
    else:
        rows = list(csv.DictReader(text.splitlines()))
    if not isinstance(rows, list):
        raise ConfigurationError(f"{path}: expected a list of mappings")
    for number, row in enumerate(rows, 1):
        missing = [name for name in REQUIRED if not row.get(name)]
        if missing:
            raise ConfigurationError(f"{path}: row {number} lacks {', '.join(missing)}")
    return [dict(row) for row in rows]


def publish_mappings(
    mappings: list[dict[str, Any]], source: str, runtime: Runtime | None = None
) -> int:
    """Write each mapping keyed by fixtureId; return how many were acknowledged."""
    runtime = runtime or resolve_runtime()
    serde = AvroSerde(SchemaRegistryClient(runtime.registry_config()), runtime.topics)
    serde.register_all()
    # rare, small writes: one record per batch keeps end offsets exact on every broker
    producer = Producer(producer_config(runtime.target, **{"batch.num.messages": 1}))
    topic = runtime.topics.name("fixture_map")
    now = int(time.time() * 1000)
    for row in mappings:
        fixture_id = str(row["fixtureId"])
        value: dict[str, Any] = {
            "fixtureId": fixture_id,
            "game_id": str(row["game_id"]),
            "league": row.get("league") or None,
            "sport": row.get("sport") or None,
            "title": row.get("title") or None,
            "source": Path(source).name,
            "loaded_at": now,
        }
        producer.produce(
            topic, key=value["fixtureId"].encode(), value=serde.encode("fixture_map", value)
        )
    remaining = producer.flush(30)
    if remaining:
        raise ConfigurationError(f"{remaining} fixture mappings were not acknowledged by Kafka")
    return len(mappings)
