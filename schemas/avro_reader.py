"""Avro binary readers compiled once per writer schema: Python source generated on first use.

fastavro's schemaless reader walks the schema's dicts on every record (a type look-up per
field); on the raw topics' ~30-field records that is most of an agent's decode cost (issue #17).
The reader generated here reads the fields in order with the schema already unrolled: nested
records inlined, each `null`-plus-one-type union a test of its branch byte, one-byte varints
read in line. Its values are fastavro's for the same bytes (`tests/unit/schemas/
test_avro_reader.py` checks it on generated records of every schema), and bytes that fastavro
could not read do not read here either: a short buffer, a branch, enum index or boolean out of
range, a negative length, invalid UTF-8 each raise (`ValueError`, `IndexError` or
`struct.error`); the caller checks that the record ended where the bytes do. (One is stricter
than fastavro: a boolean byte other than 0 or 1 raises, where fastavro reads it as true.)

Like `schemas.avro_writer`, a schema with anything else (a union of two non-null types, a
logical type: the decoder strips `timestamp-millis` before) raises `NotCompilable`, and the
decoder then reads it with fastavro.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from schemas.codegen import NotCompilable, SchemaWalker, define, schema_name

Reader = Callable[[bytes, int], tuple[Any, int]]
# a one-byte varint as a length: its value for an even byte below 128, else -1 (read it whole)
SHORT_LENGTHS = tuple(b >> 1 if b < 128 and not b & 1 else -1 for b in range(256))


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag varint at `pos` as its unsigned value, and the position after it (unrolled
    up to 6 bytes: epoch-ms times take 6)."""
    b = data[pos]
    n = b & 127
    if b < 128:
        return n, pos + 1
    b = data[pos + 1]
    n |= (b & 127) << 7
    if b < 128:
        return n, pos + 2
    b = data[pos + 2]
    n |= (b & 127) << 14
    if b < 128:
        return n, pos + 3
    b = data[pos + 3]
    n |= (b & 127) << 21
    if b < 128:
        return n, pos + 4
    b = data[pos + 4]
    n |= (b & 127) << 28
    if b < 128:
        return n, pos + 5
    b = data[pos + 5]
    n |= (b & 127) << 35
    if b < 128:
        return n, pos + 6
    pos += 6
    shift = 42
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 127) << shift
        if b < 128:
            return n, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def length(data: bytes, pos: int) -> tuple[int, int]:
    """A non-negative length (of a string or bytes) and the position after it."""
    n, pos = varint(data, pos)
    size = (n >> 1) ^ -(n & 1)
    if size < 0 or pos + size > len(data):
        raise ValueError(f"length {size} at {pos} beyond the record's {len(data)} bytes")
    return size, pos


def block_count(data: bytes, pos: int) -> tuple[int, int]:
    """An array or map block's item count (a negative count is followed by its byte size)."""
    n, pos = varint(data, pos)
    count = (n >> 1) ^ -(n & 1)
    if count < 0:
        _, pos = varint(data, pos)
        count = -count
    return count, pos


class _Compiler(SchemaWalker):
    def read(self, schema: Any, target: str, depth: int, namespace: str | None) -> None:
        """Emit the statements reading one value of `schema` into the local `target`."""
        src = self.source
        schema, namespace = self.resolve(schema, namespace)
        if isinstance(schema, list):
            self.union(schema, target, depth, namespace)
            return
        if isinstance(schema, dict):
            kind = schema["type"]
            if schema.get("logicalType") is not None:
                raise NotCompilable(f"logical type {schema['logicalType']}")
            if kind == "record":
                self.record(schema, target, depth, namespace)
            elif kind == "array":
                self.block(schema["items"], target, depth, namespace, keyed=False)
            elif kind == "map":
                self.block(schema["values"], target, depth, namespace, keyed=True)
            elif kind == "enum":
                namespace = self.register(schema, namespace)
                symbols = src.constant(tuple(schema["symbols"]))
                index = src.name("i")
                self.long(index, depth)
                src.emit(depth, f"if {index} < 0: raise IndexError('enum index')")
                src.emit(depth, f"{target} = {symbols}[{index}]")
            elif kind == "fixed":
                self.register(schema, namespace)
                size = int(schema["size"])
                src.emit(depth, f"if pos + {size} > len(data): raise IndexError('fixed')")
                src.emit(depth, f"{target} = data[pos:pos + {size}]")
                src.emit(depth, f"pos += {size}")
            else:
                self.read(kind, target, depth, namespace)
            return
        self.primitive(schema, target, depth)

    def long(self, target: str, depth: int) -> None:
        src = self.source
        n = src.name("n")
        src.emit(depth, f"{n} = data[pos]")
        src.emit(depth, f"if {n} < 128: pos += 1")
        src.emit(depth, f"else: {n}, pos = varint(data, pos)")
        src.emit(depth, f"{target} = ({n} >> 1) ^ -({n} & 1)")

    def primitive(self, kind: str, target: str, depth: int) -> None:
        src = self.source
        if kind == "null":
            src.emit(depth, f"{target} = None")
        elif kind == "boolean":
            src.emit(depth, f"{target} = BOOLEANS[data[pos]]")
            src.emit(depth, "pos += 1")
        elif kind in ("int", "long"):
            self.long(target, depth)
        elif kind in ("float", "double"):
            src.emit(depth, f"{target} = unpack_{kind}(data, pos)[0]")
            src.emit(depth, f"pos += {4 if kind == 'float' else 8}")
        elif kind in ("string", "bytes"):
            size = src.name("s")
            src.emit(depth, f"{size} = SHORT_LENGTHS[data[pos]]")
            src.emit(depth, f"if {size} < 0: {size}, pos = length(data, pos)")
            src.emit(depth, "else: pos += 1")
            text = f"data[pos:pos + {size}]"
            if kind == "string":
                src.emit(depth, f"{target} = {text}.decode() if {size} else ''")
            else:
                src.emit(depth, f"{target} = {text}")
            src.emit(depth, f"pos += {size}")
        else:
            raise NotCompilable(f"type {kind}")

    def union(self, branches: list[Any], target: str, depth: int, namespace: str | None) -> None:
        others = [i for i, b in enumerate(branches) if b != "null"]
        if len(branches) != 2 or len(others) != 1:
            raise NotCompilable(f"union {branches}")
        other = others[0]
        src = self.source
        branch = src.name("u")
        src.emit(depth, f"{branch} = data[pos]")
        src.emit(depth, "pos += 1")
        src.emit(depth, f"if {branch} == {2 * (1 - other)}:")
        src.emit(depth + 1, f"{target} = None")
        src.emit(depth, f"elif {branch} == {2 * other}:")
        self.read(branches[other], target, depth + 1, namespace)
        src.emit(depth, "else:")
        src.emit(depth + 1, f"raise ValueError(f'union branch {{{branch}}} at {{pos - 1}}')")

    def record(
        self, schema: dict[str, Any], target: str, depth: int, namespace: str | None
    ) -> None:
        namespace = self.register(schema, namespace)
        if schema["name"] in self.expanding:
            raise NotCompilable(f"recursive record {schema['name']}")
        self.expanding.add(schema["name"])
        items = []
        for field in schema["fields"]:
            item = self.source.name("v")
            self.read(field["type"], item, depth, namespace)
            items.append(f"{field['name']!r}: {item}")
        self.source.emit(depth, f"{target} = {{{', '.join(items)}}}")
        self.expanding.discard(schema["name"])

    def block(
        self, items: Any, target: str, depth: int, namespace: str | None, keyed: bool
    ) -> None:
        src = self.source
        count, item = src.name("c"), src.name("v")
        src.emit(depth, f"{target} = {{}}" if keyed else f"{target} = []")
        src.emit(depth, "if data[pos] == 0: pos += 1")  # empty: the end block alone
        src.emit(depth, "else:")
        depth += 1
        src.emit(depth, f"{count}, pos = block_count(data, pos)")
        src.emit(depth, f"while {count}:")
        src.emit(depth + 1, f"for _ in range({count}):")
        if keyed:
            key = src.name("k")
            self.primitive("string", key, depth + 2)
            self.read(items, item, depth + 2, namespace)
            src.emit(depth + 2, f"{target}[{key}] = {item}")
        else:
            self.read(items, item, depth + 2, namespace)
            src.emit(depth + 2, f"{target}.append({item})")
        src.emit(depth + 1, f"{count}, pos = block_count(data, pos)")


def compile_reader(schema: Any) -> Reader:
    """A function `read(data, pos) -> (value, end)` reading one value of `schema` from `data`
    at `pos`; `end` is where it ended (the caller checks nothing is left over)."""
    compiler = _Compiler()
    compiler.read(schema, "value", 1, None)
    compiler.source.emit(1, "return value, pos")
    scope: dict[str, Any] = {
        "varint": varint,
        "length": length,
        "block_count": block_count,
        "BOOLEANS": (False, True),
        "SHORT_LENGTHS": SHORT_LENGTHS,
        "unpack_float": struct.Struct("<f").unpack_from,
        "unpack_double": struct.Struct("<d").unpack_from,
    }
    label = f"avro reader {schema_name(schema)}"
    reader: Reader = define("read(data, pos)", compiler.source, scope, label)
    return reader
