"""Dedupe fingerprints of typed records: a digest of the Avro encoding of the compared fields.

Where the compared fields are a run of the record's own fields (MM API change records:
`payload` … `old_extra`), the digest is of that slice of the bytes about to be published
(`span_print`): nothing is written twice. Predexon's live state, whose compared fields are
interleaved with others, digests the runs of them in its encoded bytes (`wire.SpanPrint`);
`RecordPrint` writes just them, the same digest (`tests/unit/connectors/test_fused.py`).

A repeat is a change whose compared fields equal those last published for the entity. The
fields are written by a writer compiled for just them (`schemas.avro_writer`), so a fingerprint
costs a few µs, where canonical JSON (`json.dumps(sort_keys=True)`) of the raw payload cost ~12;
and two values that type to the same record (`1` and `1.0` for a double, ISO text and epoch ms
for a time) are the same state, as they are downstream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from schemas.avro_writer import compile_writer

Record = dict[str, Any]


def span_print(data: bytes, start: int, end: int) -> bytes:
    """The fingerprint of `data[start:end]` (a run of fields of an encoded record)."""
    return hashlib.blake2b(memoryview(data)[start:end], digest_size=16).digest()


class RecordPrint:
    """Fingerprints of records of `schema` over the top-level fields named in `fields`."""

    def __init__(self, schema: Record, fields: Collection[str]) -> None:
        # a kept field may not use a named type defined only in a dropped one (NotCompilable)
        projected = dict(schema, fields=[f for f in schema["fields"] if f["name"] in fields])
        self.write = compile_writer(projected)

    def __call__(self, value: Record) -> bytes:
        out = bytearray()
        self.write(out, value)
        return hashlib.blake2b(out, digest_size=16).digest()
