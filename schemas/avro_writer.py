"""Avro binary writers compiled once per schema: Python source generated at start-up.

fastavro's schemaless writer resolves every union on every record by validating the value
against each branch, which on the ~50-field raw schemas costs ~44 µs a record. Every union of
the project's schemas is `null` plus one type, so the branch is `value is None`; the writer
generated here walks the schema's fields in order, inlines nested records, and appends Avro
binary to a `bytearray`. Its bytes are fastavro's (`tests/unit/schemas/test_avro_writer.py`
checks it on generated records of every schema). A schema with anything else (a union of two
non-null types, a logical type other than `timestamp-millis`) raises `NotCompilable`: the
encoder then uses fastavro for it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from fastavro.logical_writers import LOGICAL_WRITERS

from schemas.codegen import NotCompilable, SchemaWalker, Source, schema_name
from schemas.codegen import define as define_function

Writer = Callable[[bytearray, Any], list[int]]
prepare_timestamp_millis = LOGICAL_WRITERS["long-timestamp-millis"]
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
# The varint of each value in -64 … 63, and of each length 0 … 127 (zig-zag: 2n)
# (indexed by the value itself: a negative index reads the second half, -64 … -1)
SMALL = [bytes([(n << 1) ^ (n >> 63)]) for n in [*range(64), *range(-64, 0)]]
LENGTHS = [SMALL[n] for n in range(64)]
SOME_LENGTHS = [b"\x02" + SMALL[n] for n in range(64)]  # union branch 1, then the length


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# The varint of every 14-bit number, and the same with the continuation bit set on its last
# byte too (a low group followed by more): an epoch-ms time (6 bytes) is three lookups
TABLE_BITS = 14
LOW_MASK = (1 << TABLE_BITS) - 1
VARINTS = [_varint(n) for n in range(1 << TABLE_BITS)]
GROUPS = [bytes((n & 127 | 128, n >> 7 | 128)) for n in range(1 << TABLE_BITS)]


def long_bytes(value: int) -> bytes:
    """An Avro long: zig-zag, then base-128 varint, least significant group first."""
    if -64 <= value < 64:
        return SMALL[value]
    n = (value << 1) ^ (value >> 63)
    if n < 1 << 14:
        return VARINTS[n]
    if n < 1 << 28:
        return GROUPS[n & LOW_MASK] + VARINTS[n >> 14]
    if n < 1 << 42:
        return GROUPS[n & LOW_MASK] + GROUPS[n >> 14 & LOW_MASK] + VARINTS[n >> 28]
    if not LONG_MIN <= value <= LONG_MAX:
        raise ValueError(f"{value} does not fit an Avro long")
    return _varint(n)


def timestamp_millis(value: Any) -> int:
    """A timestamp-millis value as fastavro takes it: epoch ms, or a datetime converted."""
    return value if type(value) is int else int(prepare_timestamp_millis(value, {}))


class WriterCompiler(SchemaWalker):
    """Emits the statements writing a typed value (also used by the connectors' fused
    convert-and-write functions, `connectors.fused`)."""

    def index(self, schema: Any, namespace: str | None = None) -> None:
        """Know every named type defined in `schema` (for code writing only a part of it)."""
        if isinstance(schema, list):
            for branch in schema:
                self.index(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in ("record", "enum", "fixed"):
                namespace = self.register(schema, namespace)
            if kind == "record":
                for field in schema["fields"]:
                    self.index(field["type"], namespace)
            elif kind == "array":
                self.index(schema["items"], namespace)
            elif kind == "map":
                self.index(schema["values"], namespace)
            elif isinstance(kind, dict | list):
                self.index(kind, namespace)

    def write(self, schema: Any, value: str, depth: int, namespace: str | None) -> None:
        """Emit the statements writing the Python expression `value` (a local name)."""
        src = self.source
        schema, namespace = self.resolve(schema, namespace)
        if isinstance(schema, list):
            self.union(schema, value, depth, namespace)
            return
        if isinstance(schema, dict):
            kind = schema["type"]
            logical = schema.get("logicalType")
            if logical == "timestamp-millis" and kind == "long":
                src.emit(depth, f"if type({value}) is not int: {value} = timestamp_millis({value})")
                self.write("long", value, depth, namespace)
                return
            if logical is not None:
                raise NotCompilable(f"logical type {logical}")
            if kind == "record":
                self.record(schema, value, depth, namespace)
            elif kind == "array":
                self.block(
                    value,
                    depth,
                    lambda item, d: self.write(schema["items"], item, d, namespace),
                    False,
                )
            elif kind == "map":
                self.block(
                    value,
                    depth,
                    lambda item, d: self.write(schema["values"], item, d, namespace),
                    True,
                )
            elif kind == "enum":
                namespace = self.register(schema, namespace)
                index = src.constant(
                    {
                        s: SMALL[i] if i < 64 else long_bytes(i)
                        for i, s in enumerate(schema["symbols"])
                    }
                )
                src.emit(depth, f"out += {index}[{value}]")
            elif kind == "fixed":
                self.register(schema, namespace)
                src.emit(depth, f"out += {value}")
            else:
                self.write(kind, value, depth, namespace)
            return
        self.primitive(schema, value, depth)

    def primitive(self, kind: str, value: str, depth: int) -> None:
        src = self.source
        if kind == "null":
            src.emit(depth, f"if {value} is not None: raise ValueError('null expected')")
        elif kind == "boolean":
            src.emit(depth, f"out += b'\\x01' if {value} else b'\\x00'")
        elif kind in ("int", "long"):
            src.emit(
                depth, f"out += SMALL[{value}] if -64 <= {value} < 64 else long_bytes({value})"
            )
        elif kind == "float":
            src.emit(depth, f"out += pack_float({value})")
        elif kind == "double":
            src.emit(depth, f"out += pack_double({value})")
        elif kind in ("string", "bytes"):
            data = src.name("b")
            encode = f"{value}.encode()" if kind == "string" else value
            src.emit(depth, f"{data} = {encode}")
            src.emit(
                depth,
                f"out += LENGTHS[len({data})] if len({data}) < 64 else long_bytes(len({data}))",
            )
            src.emit(depth, f"out += {data}")
        else:
            raise NotCompilable(f"type {kind}")

    def union(self, branches: list[Any], value: str, depth: int, namespace: str | None) -> None:
        others = [i for i, b in enumerate(branches) if b != "null"]
        if len(branches) != 2 or len(others) != 1:
            raise NotCompilable(f"union {branches}")
        other = others[0]
        src = self.source
        src.emit(depth, f"if {value} is None:")
        src.emit(depth + 1, f"out += {SMALL[1 - other]!r}")
        if other == 1 and branches[1] == "string":  # the common case, in one append
            data = src.name("b")
            src.emit(depth, f"elif len({data} := {value}.encode()) < 64:")
            src.emit(depth + 1, f"out += SOME_LENGTHS[len({data})]")
            src.emit(depth + 1, f"out += {data}")
        src.emit(depth, "else:")
        src.emit(depth + 1, f"out += {SMALL[other]!r}")
        self.write(branches[other], value, depth + 1, namespace)

    def record(self, schema: dict[str, Any], value: str, depth: int, namespace: str | None) -> None:
        namespace = self.register(schema, namespace)
        if schema["name"] in self.expanding:
            raise NotCompilable(f"recursive record {schema['name']}")
        self.expanding.add(schema["name"])
        src = self.source
        top = value == "value"  # the top-level record: note where each field starts
        for field in schema["fields"]:
            item = src.name("v")
            name = field["name"]
            if top:
                src.emit(depth, "starts.append(len(out))")
            if "default" in field and field["default"] is None:
                src.emit(depth, f"{item} = {value}.get({name!r})")
            elif "default" in field:
                default = src.constant(field["default"], "d")
                src.emit(depth, f"{item} = {value}.get({name!r}, {default})")
            elif isinstance(field["type"], list) and "null" in field["type"]:
                src.emit(depth, f"{item} = {value}.get({name!r})")  # as fastavro: absent = null
            else:
                src.emit(depth, f"{item} = {value}[{name!r}]")
            self.write(field["type"], item, depth, namespace)
        self.expanding.discard(schema["name"])

    def block(
        self, value: str, depth: int, write_item: Callable[[str, int], None], keyed: bool
    ) -> None:
        """An array or map: one block of all items (count first), then the empty block."""
        src = self.source
        src.emit(depth, f"if {value}:")
        src.emit(
            depth + 1,
            f"out += SMALL[len({value})] if len({value}) < 64 else long_bytes(len({value}))",
        )
        if keyed:
            key, item = src.name("k"), src.name("v")
            src.emit(depth + 1, f"for {key}, {item} in {value}.items():")
            self.primitive("string", key, depth + 2)
        else:
            item = src.name("v")
            src.emit(depth + 1, f"for {item} in {value}:")
        write_item(item, depth + 2)
        src.emit(depth, "out += b'\\x00'")


WRITER_SCOPE: dict[str, Any] = {
    "SMALL": SMALL,
    "LENGTHS": LENGTHS,
    "SOME_LENGTHS": SOME_LENGTHS,
    "VARINTS": VARINTS,
    "GROUPS": GROUPS,
    "long_bytes": long_bytes,
    "timestamp_millis": timestamp_millis,
    "pack_float": struct.Struct("<f").pack,
    "pack_double": struct.Struct("<d").pack,
}


def define(signature: str, source: Source, scope: dict[str, Any], label: str) -> Any:
    """`codegen.define` with the writers' helpers in scope."""
    return define_function(signature, source, {**WRITER_SCOPE, **scope}, label)


def compile_writer(schema: Any) -> Writer:
    """A function `write(out, value)` appending `value`'s Avro binary under `schema` to `out`;
    it returns where in `out` each top-level field began, and where the last ended (so a caller
    can digest a run of fields without writing them twice)."""
    compiler = WriterCompiler()
    compiler.source.emit(1, "starts = []")
    compiler.write(schema, "value", 1, None)
    compiler.source.emit(1, "starts.append(len(out))")
    compiler.source.emit(1, "return starts")
    writer: Writer = define(
        "write(out, value)", compiler.source, {}, f"avro writer {schema_name(schema)}"
    )
    return writer
