"""Compatibility levels checked with the `avro` package's `avro.compatibility` module."""

from __future__ import annotations

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

LEVELS = frozenset(
    {
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    }
)
DEFAULT_LEVEL = "BACKWARD"


def _can_read(reader: avro.schema.Schema, writer: avro.schema.Schema) -> list[str]:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    return [str(m) for m in sorted(result.messages, key=str)] or ["incompatible"]


def incompatibilities(
    candidate: avro.schema.Schema, existing: list[avro.schema.Schema], level: str
) -> list[str]:
    """Why `candidate` may not follow `existing` (oldest first) under `level`; empty if it may."""
    if level == "NONE" or not existing:
        return []
    against = existing if level.endswith("_TRANSITIVE") else existing[-1:]
    mode = level.removesuffix("_TRANSITIVE")
    problems: list[str] = []
    for previous in against:
        if mode in ("BACKWARD", "FULL"):
            problems += [
                f"new schema cannot read old data: {m}" for m in _can_read(candidate, previous)
            ]
        if mode in ("FORWARD", "FULL"):
            problems += [
                f"old schema cannot read new data: {m}" for m in _can_read(previous, candidate)
            ]
    return problems
