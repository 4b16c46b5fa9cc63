"""Latency of the embedded registry's calls over HTTP (p50/p99, ms), bounded loops."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from bench.common import embedded_stack, percentiles, table

N = 200


def timed(fn: object) -> list[float]:
    assert callable(fn)
    samples = []
    for i in range(N):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def schema(i: int) -> Schema:
    """Version i of a typical small record: one optional field renamed each time."""
    fields = [
        {"name": "stake", "type": "double"},
        {"name": f"note{i}", "type": ["null", "string"], "default": None},
    ]
    return Schema(json.dumps({"type": "record", "name": "R", "fields": fields}), "AVRO")


def main() -> None:
    with embedded_stack() as stack:
        url = stack.registry_url
        register = timed(
            lambda i: SchemaRegistryClient({"url": url}).register_schema("bench-value", schema(i))
        )
        lookup = timed(
            lambda i: SchemaRegistryClient({"url": url}).lookup_schema("bench-value", schema(i))
        )
        by_id = timed(lambda i: SchemaRegistryClient({"url": url}).get_schema(i + 1))
    rows = []
    for label, samples in (
        ("register (new version each time)", register),
        ("lookup POST /subjects/{s}", lookup),
        ("GET /schemas/ids/{id}", by_id),
    ):
        p = percentiles(samples)
        rows.append((label, f"p50 {p['p50']:.2f} ms, p99 {p['p99']:.2f} ms"))
    print(table(rows))
    print(f"\n{N} calls each, a fresh client per call (no client cache), one registry process.")


if __name__ == "__main__":
    main()
