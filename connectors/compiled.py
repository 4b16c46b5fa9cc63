"""Record converters compiled once per schema: Python source generated at start-up.

`Converter.walk_record` walks the schema for every record (dispatching on each field's type,
building each field's path); the function generated here does the same conversion with the
walk unrolled: one block per field, in schema order, with a fast path for the values a feed
sends (an exact `int` in range, an ASCII `str`, a finite `float`, `None` in a nullable field,
an epoch-ms time inside the edge window, a nested object) and everything else — ISO times,
numbers as text, bad values and their messages — handed to the walking `Converter.convert`,
so both give the same record or the same `RejectedInput`
(`tests/unit/connectors/test_compiled.py` checks it on generated input).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from connectors.edge import INT_MAX, INT_MIN, LONG_MAX, LONG_MIN, EdgeLimits, iso_ms, time_ms
from connectors.errors import RejectedInput

Schema = Any
CompiledRecord = Callable[[Any, str, "dict[str, str] | None", "dict[str, Any] | None"], Any]
EXTRA_FIELDS = ("extra", "periods")
MISSING = object()


class Walker(Protocol):
    """What the generated code falls back to (`connectors.records.Converter`)."""

    schema: Schema
    named: dict[str, Schema]
    limits: EdgeLimits

    def convert(
        self, schema: Schema, value: Any, path: str, sink: dict[str, str] | None = None
    ) -> Any: ...

    def record(
        self,
        schema: Schema,
        value: Any,
        path: str,
        sink: dict[str, str] | None = None,
        owned: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    def record_function(self, schema: Schema) -> Callable[..., Any]: ...

    def unknowns(
        self,
        extra_field: dict[str, Any] | None,
        value: dict[str, Any],
        known: set[str] | frozenset[str],
        path: str,
        sink: dict[str, str] | None,
        nested_sink: dict[str, str] | None,
        out: dict[str, Any],
    ) -> None: ...


def extra_map(schema: Schema) -> dict[str, Any] | None:
    """The record's own map for unknown fields (`extra` / `periods`), if it has one."""
    return next(
        (
            f
            for f in schema["fields"]
            if f["name"] in EXTRA_FIELDS
            and isinstance(f["type"], dict)
            and f["type"].get("type") == "map"
        ),
        None,
    )


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}

    def constant(self, value: Any) -> str:
        name = f"k{len(self.constants)}"
        self.constants[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _unwrap(walker: Walker, schema: Schema) -> tuple[Schema, bool]:
    """The field's type with a nullable union and a named reference resolved; nullable?"""
    nullable = False
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        nullable = len(branches) < len(schema)
        schema = branches[0] if branches else "null"
    if isinstance(schema, str) and schema in walker.named:
        schema = walker.named[schema]
    return schema, nullable


def _fast_path(walker: Walker, src: _Source, schema: Schema) -> tuple[str, str] | None:
    """(condition on `v`, expression of the converted value) for the common case, or None."""
    if isinstance(schema, dict):
        if schema.get("logicalType") == "timestamp-millis":
            return "type(v) is int and lo <= v <= hi", "v"
        if schema["type"] == "record":
            nested = src.constant(walker_record(walker, schema))
            return "type(v) is dict", f"{nested}(v, path + {{dot_name}}, nested, None)"
        if schema["type"] == "array" and schema["items"] == "string":  # tags, sources
            return "type(v) is list and all(type(x) is str and x.isascii() for x in v)", "list(v)"
        return None
    if schema in ("long", "int"):
        low, high = (LONG_MIN, LONG_MAX) if schema == "long" else (INT_MIN, INT_MAX)
        return f"type(v) is int and {low} <= v <= {high}", "v"
    if schema in ("double", "float"):
        return "type(v) is float and v - v == 0.0", "v"  # finite: inf - inf and nan are nan
    if schema == "string":
        return "type(v) is str and v.isascii()", "v"
    if schema == "boolean":
        return "type(v) is bool", "v"
    return None


def walker_record(walker: Walker, schema: Schema) -> Callable[..., Any]:
    """The nested record's converter: compiled too, looked up on its first call (not while
    the enclosing one compiles: a schema may refer to itself) and then called directly."""
    resolved: list[Callable[..., Any]] = []

    def nested(
        value: Any, path: str, sink: dict[str, str] | None, owned: dict[str, Any] | None
    ) -> Any:
        if owned:
            return walker.record(schema, value, path, sink, owned)
        if not resolved:
            resolved.append(walker.record_function(schema))
        return resolved[0](value, path, sink, None)

    return nested


def compile_record(
    walker: Walker, schema: Schema, owned: frozenset[str] = frozenset()
) -> CompiledRecord:
    """A function `(value, path, sink, owned) -> record` equal to `walker.walk_record`."""
    src = _Source()
    extra_field = extra_map(schema)
    known = frozenset(
        f["name"] for f in schema["fields"] if f is not extra_field and f["name"] not in owned
    )
    times = False
    emit = src.emit
    emit(1, "if type(value) is not dict:")
    emit(2, 'raise RejectedInput(f"{path}: expected an object, got {type(value).__name__}")')
    emit(1, "nested = {}" if extra_field is not None else "nested = sink")
    emit(1, "get = value.get")
    names: list[tuple[str, str]] = []
    for index, field in enumerate(schema["fields"]):
        name = field["name"]
        if field is extra_field:
            continue
        target = f"f{index}"
        names.append((name, target))
        if name in owned:
            emit(1, f"{target} = owned[{name!r}]")
            continue
        kind, nullable = _unwrap(walker, field["type"])
        field_type = src.constant(field["type"])
        dot_name = repr(f".{name}")
        emit(1, f"v = get({name!r}, MISSING)")
        emit(1, "if v is MISSING:")  # first: most fields of an update are absent
        if "default" in field:
            default = field["default"]
            emit(2, f"{target} = {'None' if default is None else src.constant(default)}")
        else:
            emit(2, f"raise RejectedInput(path + {f'.{name}: required field missing'!r})")
        if nullable:
            emit(1, f"elif v is None: {target} = None")
        fast = _fast_path(walker, src, kind)
        if fast is not None:
            condition, expression = fast
            times = times or "lo <=" in condition
            emit(1, f"elif {condition}: {target} = {expression.format(dot_name=dot_name)}")
            if "lo <=" in condition:  # ISO 8601 text: the window already computed, else walk
                iso = "type(v) is str and lo <= (t := iso_ms(v) or MIN) <= hi"
                emit(1, f"elif {iso}: {target} = t")
                emit(1, f"elif type(v) is str: {target} = time_ms(v, path + {dot_name}, limits)")
        if kind in ("double", "float"):
            emit(1, f"elif type(v) is int and {LONG_MIN} <= v <= {LONG_MAX}: {target} = float(v)")
        emit(1, f"else: {target} = convert({field_type}, v, path + {dot_name}, nested)")
    if times:
        src.lines.insert(0, "    now = limits.clock()")
        src.lines.insert(1, "    lo, hi = now - limits.past_ms, now + limits.future_ms")
    emit(1, "out = {" + ", ".join(f"{name!r}: {target}" for name, target in names) + "}")
    extra = src.constant(extra_field)
    emit(1, f"if {'nested or ' if extra_field is not None else ''}not KNOWN.issuperset(value):")
    emit(2, f"unknowns({extra}, value, KNOWN, path, sink, nested, out)")
    if extra_field is not None:
        emit(1, f"else: out[{extra_field['name']!r}] = {{}}")
    emit(1, "return out")
    scope: dict[str, Any] = {
        "RejectedInput": RejectedInput,
        "MISSING": MISSING,
        "KNOWN": known,
        "convert": walker.convert,
        "unknowns": walker.unknowns,
        "time_ms": time_ms,
        "iso_ms": iso_ms,
        "MIN": LONG_MIN - 1,  # outside every window: an unreadable time takes the walk
        "limits": walker.limits,
        **src.constants,
    }
    arguments = "".join(f", {name}={name}" for name in scope)
    text = f"def convert_record(value, path, sink, owned{arguments}):\n" + "\n".join(src.lines)
    exec(compile(text + "\n", f"<converter {schema.get('name')}>", "exec"), scope)
    function: CompiledRecord = scope["convert_record"]
    function.source = text  # type: ignore[attr-defined]  # for debugging a schema's converter
    return function
