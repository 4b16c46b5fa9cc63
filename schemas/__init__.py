"""Avro schemas of every mmstream topic (`*.avsc`), the serde and the Faust codec built on them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent


def schema_names() -> list[str]:
    """Every schema file's name without `.avsc`."""
    return sorted(path.stem for path in SCHEMA_DIR.glob("*.avsc"))


@cache
def load_schema(name: str) -> str:
    """The text of `schemas/<name>.avsc`."""
    return (SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8")


def load_schema_dict(name: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(load_schema(name))
    return parsed
