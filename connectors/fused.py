"""Convert-and-write functions compiled once per record schema: feed JSON straight to Avro.

The compiled converter (`connectors.compiled`) builds each record as a dict that the compiled
Avro writer (`schemas.avro_writer`) then reads back, field by field. The function generated here
does both in one pass over the fields, in schema order: it takes the feed's value, checks it as
the converter's fast path does (an exact `int` in range, an ASCII `str`, a finite `float`,
`None` in a nullable field, a time inside the edge window, a nested object) and appends its Avro
binary to the output. Anything else is converted by the walking converter (`Converter.convert`:
the same value or the same `RejectedInput`) and written by the compiled writer's statements.
Unknown fields are kept as the converter keeps them (`Converter.unknowns`).

The function also returns the typed record (the converter's dict: the caller reads its key, its
entity and its time from it, and remembers it). Its bytes are fastavro's for that record
(`tests/unit/connectors/test_fused.py`, on generated input, for every schema).

A schema it does not take (a record whose extra map is followed by a field it converts, a
recursive record, a type the compiled writer refuses) raises `NotCompilable`: the caller then
converts and encodes in two steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.compiled import MISSING, Walker, extra_map
from connectors.edge import INT_MAX, INT_MIN, LONG_MAX, LONG_MIN, iso_ms
from connectors.errors import RejectedInput
from schemas.avro_writer import LOW_MASK, WriterCompiler, define, long_bytes
from schemas.codegen import NotCompilable

Schema = Any
# (out, value, path, sink, owned, starts) -> the typed record; `starts` gets where each field
# written began, then the end (when compiled with `marks`), else None
Fused = Callable[
    [bytearray, Any, str, "dict[str, str] | None", "dict[str, Any] | None", "list[int] | None"],
    dict[str, Any],
]
NO_NAMES: frozenset[str] = frozenset()


class _Fuser:
    """The source of one record's function (and, compiled first, its nested records')."""

    def __init__(self, walker: Walker, compiling: set[int]) -> None:
        self.walker = walker
        self.compiling = compiling
        self.writer = WriterCompiler()
        self.writer.index(walker.schema)
        self.src = self.writer.source
        self.times = False

    def namespace_of(self, schema: Schema) -> str | None:
        for found, namespace in self.writer.named.values():
            if found is schema:
                return str(namespace) if namespace is not None else None
        return None

    def unwrap(self, schema: Schema) -> tuple[Schema, bool, bytes, bytes]:
        """(the type of a field with a nullable union resolved, nullable?, the union index of
        null, that of the other branch) — the indexes empty when the field is no union."""
        if isinstance(schema, list):
            if len(schema) != 2 or "null" not in schema:
                raise NotCompilable(f"union {schema}")
            null = schema.index("null")
            kind, nullable = schema[1 - null], True
            null_bytes, some_bytes = long_bytes(null), long_bytes(1 - null)
        else:
            kind, nullable, null_bytes, some_bytes = schema, False, b"", b""
        if isinstance(kind, str) and kind in self.walker.named:
            kind = self.walker.named[kind]
        return kind, nullable, null_bytes, some_bytes

    def fast(self, kind: Schema) -> str | None:
        """The condition on `v` under which `emit_fast` applies, if the type has a fast path."""
        if isinstance(kind, dict):
            if kind.get("logicalType") == "timestamp-millis":
                self.times = True
                return "type(v) is int and lo <= v <= hi"
            if kind["type"] == "record":
                return "type(v) is dict"
            if kind["type"] == "array" and kind["items"] == "string":
                return "type(v) is list and all(type(x) is str and x.isascii() for x in v)"
            return None
        if kind in ("long", "int"):
            low, high = (LONG_MIN, LONG_MAX) if kind == "long" else (INT_MIN, INT_MAX)
            return f"type(v) is int and {low} <= v <= {high}"
        if kind == "double":
            return "type(v) is float and v - v == 0.0"  # finite: inf - inf and nan are nan
        if kind == "string":
            return "type(v) is str and v.isascii()"
        if kind == "boolean":
            return "type(v) is bool"
        return None

    def emit_fast(
        self, kind: Schema, some: bytes, depth: int, namespace: str | None, target: str, dot: str
    ) -> None:
        """The statements writing `v` (known to pass the fast condition) into `target`."""
        emit = self.src.emit
        if kind == "string":  # ASCII: as many bytes as characters
            emit(depth, f"{target} = v")
            if some == b"\x02":  # the union index and a short length in one append
                long_form = "b'\\x02' + long_bytes(len(v))"
                emit(depth, f"out += SOME_LENGTHS[len(v)] if len(v) < 64 else {long_form}")
            else:
                if some:
                    emit(depth, f"out += {some!r}")
                emit(depth, "out += LENGTHS[len(v)] if len(v) < 64 else long_bytes(len(v))")
            emit(depth, "out += v.encode()")
            return
        if some:
            emit(depth, f"out += {some!r}")
        if isinstance(kind, dict) and kind["type"] == "record":
            nested = self.src.constant(self.nested(kind), "r")
            emit(depth, f"{target} = {nested}(out, v, path + {dot}, nested, None, None)")
            return
        if isinstance(kind, dict) and kind["type"] == "array":
            emit(depth, f"{target} = list(v)")
        else:
            emit(depth, f"{target} = v")
        if kind in ("long", "int") or (isinstance(kind, dict) and kind["type"] == "long"):
            self.emit_long(depth, target)  # checked in range by the fast condition
        else:
            self.writer.write(kind, target, depth, namespace)

    def emit_long(self, depth: int, value: str) -> None:
        """Write a long known to be in range: the zig-zag varint from tables, inline, for the
        values feeds send (small numbers, ids, epoch-ms times)."""
        emit = self.src.emit
        emit(depth, f"if -64 <= {value} < 64: out += SMALL[{value}]")
        emit(depth, f"elif 0 <= (n := ({value} << 1) ^ ({value} >> 63)) < {1 << 14}:")
        emit(depth + 1, "out += VARINTS[n]")
        emit(depth, f"elif n < {1 << 28}:")
        emit(depth + 1, f"out += GROUPS[n & {LOW_MASK}]")
        emit(depth + 1, "out += VARINTS[n >> 14]")
        emit(depth, f"elif n < {1 << 42}:")
        emit(depth + 1, f"out += GROUPS[n & {LOW_MASK}]")
        emit(depth + 1, f"out += GROUPS[n >> 14 & {LOW_MASK}]")
        emit(depth + 1, "out += VARINTS[n >> 28]")
        emit(depth, f"else: out += long_bytes({value})")

    def nested(self, schema: Schema) -> Fused:
        if id(schema) in self.compiling:
            raise NotCompilable(f"recursive record {schema.get('name')}")
        return fuse(self.walker, schema, compiling=self.compiling)

    def field(self, field: dict[str, Any], index: int, namespace: str | None) -> None:
        """Convert and write one field the feed gives: into local `f<index>`."""
        emit, src = self.src.emit, self.src
        name, target = field["name"], f"f{index}"
        field_type = src.constant(field["type"], "t")
        dot = repr(f".{name}")
        kind, nullable, null, some = self.unwrap(field["type"])
        default = field.get("default", MISSING)
        if nullable and default is None:  # absent and null are the same: one branch
            emit(1, f"v = get({name!r})")
            emit(1, "if v is None:")
            emit(2, f"out += {null!r}")
            emit(2, f"{target} = None")
        else:
            emit(1, f"v = get({name!r}, MISSING)")
            emit(1, "if v is MISSING:")
            if default is MISSING:
                emit(2, f"raise RejectedInput(path + {f'.{name}: required field missing'!r})")
            else:
                emit(2, f"{target} = {src.constant(default, 'd')}")
                self.writer.write(field["type"], target, 2, namespace)
            if nullable:
                emit(1, "elif v is None:")
                emit(2, f"out += {null!r}")
                emit(2, f"{target} = None")
        condition = self.fast(kind)
        if condition is not None:
            emit(1, f"elif {condition}:")
            self.emit_fast(kind, some, 2, namespace, target, dot)
            if "lo <=" in condition:  # ISO 8601 text: the window already computed, else walk
                emit(1, "elif type(v) is str and lo <= (t := iso_ms(v) or MIN) <= hi:")
                emit(2, f"{target} = t")
                if some:
                    emit(2, f"out += {some!r}")
                self.emit_long(2, target)
        if kind == "double":
            emit(1, f"elif type(v) is int and {LONG_MIN} <= v <= {LONG_MAX}:")
            emit(2, f"{target} = float(v)")
            if some:
                emit(2, f"out += {some!r}")
            self.writer.write("double", target, 2, namespace)
        emit(1, "else:")
        emit(2, f"{target} = convert({field_type}, v, path + {dot}, nested)")
        self.writer.write(field["type"], target, 2, namespace)

    def keep_unknowns(self, names: list[tuple[str, str]], extra_field: Any) -> None:
        """Build the typed record; keep the fields `KNOWN` does not name (as the converter)."""
        emit = self.src.emit
        emit(1, "rec = {" + ", ".join(f"{name!r}: {target}" for name, target in names) + "}")
        extra = self.src.constant(extra_field, "x")
        emit(1, f"if {'nested or ' if extra_field is not None else ''}not KNOWN.issuperset(value):")
        emit(2, f"unknowns({extra}, value, KNOWN, path, sink, nested, rec)")
        if extra_field is not None:
            emit(1, f"else: rec[{extra_field['name']!r}] = {{}}")


def fuse(
    walker: Walker,
    schema: Schema,
    owned: frozenset[str] = NO_NAMES,
    outside: frozenset[str] = NO_NAMES,
    marks: bool = False,
    compiling: set[int] | None = None,
) -> Fused:
    """The function `(out, value, path, sink, owned, starts) -> record` converting `value` to
    `walker.record(schema, value, path, sink, owned)` and appending its Avro binary to `out`.

    `owned` names the fields the caller fills (values in `owned`, written as they are);
    `outside`, a leading run of them, are neither written nor marked (the caller writes them
    before, e.g. an envelope that needs a time converted later). With `marks`, `starts` gets
    where each written field began, then the end (to digest a run of them)."""
    compiling = set() if compiling is None else compiling
    compiling.add(id(schema))
    fuser = _Fuser(walker, compiling)
    namespace = fuser.namespace_of(schema)
    extra_field = extra_map(schema)
    fields = schema["fields"]
    leading = [f["name"] for f in fields[: len(outside)]]
    if set(leading) != set(outside) or not outside <= owned:
        raise NotCompilable("the fields written outside must be a leading run of owned ones")
    if extra_field is not None:
        after = fields[fields.index(extra_field) + 1 :]
        if any(f["name"] not in owned for f in after):
            raise NotCompilable("a converted field after the extra map")
    known = frozenset(f["name"] for f in fields if f is not extra_field and f["name"] not in owned)
    emit = fuser.src.emit
    emit(1, "if type(value) is not dict:")
    emit(2, 'raise RejectedInput(f"{path}: expected an object, got {type(value).__name__}")')
    emit(1, "nested = {}" if extra_field is not None else "nested = sink")
    emit(1, "get = value.get")
    names = [(f["name"], f"f{i}") for i, f in enumerate(fields) if f is not extra_field]
    for index, field in enumerate(fields):
        name = field["name"]
        if name in outside:
            emit(1, f"f{index} = owned[{name!r}]")
            continue
        if marks:
            emit(1, "starts.append(len(out))")
        if field is extra_field:
            for later, other in enumerate(fields[index + 1 :], index + 1):
                emit(1, f"f{later} = owned[{other['name']!r}]")
            fuser.keep_unknowns(names, extra_field)
            emit(1, f"f{index} = rec[{name!r}]")
            fuser.writer.write(fields[index]["type"], f"f{index}", 1, namespace)
        elif name in owned:
            if extra_field is None or index < fields.index(extra_field):
                emit(1, f"f{index} = owned[{name!r}]")
            fuser.writer.write(field["type"], f"f{index}", 1, namespace)
        else:
            fuser.field(field, index, namespace)
    if extra_field is None:
        fuser.keep_unknowns(names, None)
    if marks:
        emit(1, "starts.append(len(out))")
    emit(1, "return rec")
    if fuser.times:
        fuser.src.lines.insert(0, "    now = limits.clock()")
        fuser.src.lines.insert(1, "    lo, hi = now - limits.past_ms, now + limits.future_ms")
    function: Fused = define(
        "fused(out, value, path, sink, owned, starts)",
        fuser.src,
        {
            "RejectedInput": RejectedInput,
            "MISSING": MISSING,
            "KNOWN": known,
            "convert": walker.convert,
            "unknowns": walker.unknowns,
            "iso_ms": iso_ms,
            "MIN": LONG_MIN - 1,  # outside every window: an unreadable time takes the walk
            "limits": walker.limits,
        },
        f"fused {schema.get('name')}",
    )
    compiling.discard(id(schema))
    return function
