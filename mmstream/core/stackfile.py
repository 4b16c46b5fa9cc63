"""`<data_dir>/stack.json`: where a running embedded stack (or `mmstream up`) says its broker,
registry and endpoints are. Written by the stack, read by every component that was given no
address (`mmstream.core.runtime`), so it sits below both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STACK_FILE = "stack.json"


def update_stack_file(data_dir: Path | str, **entries: Any) -> Path:
    """Add entries to `stack.json` (creating it if no embedded stack wrote one)."""
    path = Path(data_dir) / STACK_FILE
    info = read_stack_file(data_dir) or {}
    info.update(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
    return path


def read_stack_file(data_dir: Path | str) -> dict[str, Any] | None:
    """The addresses of a running embedded stack, or None."""
    path = Path(data_dir) / STACK_FILE
    if not path.exists():
        return None
    info: dict[str, Any] = json.loads(path.read_text())
    return info
