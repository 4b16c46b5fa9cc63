"""What the compiled Avro writers and readers share: the generated function's text, named-type
look-up while walking a schema, and turning the text into a function
(`schemas.avro_writer`, `schemas.avro_reader`, `connectors.fused`)."""

from __future__ import annotations

from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class NotCompilable(ValueError):
    """The schema uses something the compiled code does not (fastavro handles it instead)."""


class Source:
    """The generated function's text and the constants it refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.counter = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any, prefix: str = "k") -> str:
        name = self.name(prefix)
        self.constants[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


class SchemaWalker:
    """A compiler's source and the named types it has met (records inlined where they are
    used; `expanding` holds the records being inlined, to refuse recursive ones)."""

    def __init__(self) -> None:
        self.source = Source()
        self.named: dict[str, tuple[Any, str | None]] = {}
        self.expanding: set[str] = set()

    def resolve(self, schema: Any, namespace: str | None) -> tuple[Any, str | None]:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            full = schema if "." in schema or namespace is None else f"{namespace}.{schema}"
            found = self.named.get(full, self.named.get(schema))
            if found is None:
                raise NotCompilable(f"unknown named type {schema}")
            return found
        return schema, namespace

    def register(self, schema: dict[str, Any], namespace: str | None) -> str | None:
        namespace = schema.get("namespace", namespace)
        name = schema["name"]
        full = name if "." in name or not namespace else f"{namespace}.{name}"
        self.named[full] = self.named[name] = (schema, namespace)
        return namespace


def define(signature: str, source: Source, scope: dict[str, Any], label: str) -> Any:
    """The function `def <signature>:` with `source`'s lines as its body; every name of
    `scope` (and of the source's constants) bound as a default argument: a local lookup."""
    scope = {**scope, **source.constants}
    name, parameters = signature.split("(", 1)
    arguments = "".join(f", {n}={n}" for n in scope)
    text = f"def {name}({parameters.rstrip(')')}{arguments}):\n" + "\n".join(source.lines) + "\n"
    exec(compile(text, f"<{label}>", "exec"), scope)
    function = scope[name]
    function.source = text  # for debugging a schema's generated code
    return function


def schema_name(schema: Any) -> str:
    return str(schema.get("name", "?")) if isinstance(schema, dict) else str(schema)
