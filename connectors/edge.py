"""What a provider value must be to enter the pipeline: checked once, at the edge.

A frame's JSON document is bounded in depth, its strings and keys are valid Unicode (no lone
surrogates, which UTF-8 cannot carry) and its numbers finite; a time is finite and within a
window around now; an integer fits its Avro type. A value that is not gets a `RejectedInput`
naming the field's path, and the frame is dead-lettered.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from connectors.errors import RejectedInput

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DAY_MS = 86_400_000


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class EdgeLimits:
    """The bounds of acceptable input (`<FEED>_TIME_WINDOW_*`, `<FEED>_MAX_JSON_DEPTH`)."""

    past_ms: int = 30 * DAY_MS
    future_ms: int = DAY_MS
    max_depth: int = 32
    clock: Callable[[], int] = field(default=wall_clock_ms, compare=False)

    def check_time(self, epoch_ms: int, path: str) -> int:
        now = self.clock()
        if not now - self.past_ms <= epoch_ms <= now + self.future_ms:
            raise RejectedInput(
                f"{path}: time {epoch_ms} ms is outside the accepted window "
                f"(now -{self.past_ms // 1000}s … +{self.future_ms // 1000}s)"
            )
        return epoch_ms


def time_ms(value: Any, path: str, limits: EdgeLimits) -> int:
    """A provider time (epoch ms number or ISO 8601 text) as epoch ms within the window."""
    if isinstance(value, bool):
        raise RejectedInput(f"{path}: expected a timestamp, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RejectedInput(f"{path}: expected a timestamp, got {value!r}")
        return limits.check_time(int(value), path)
    if isinstance(value, int):
        return limits.check_time(value, path)
    if isinstance(value, str):
        epoch_ms = iso_ms(value)
        if epoch_ms is None:
            raise RejectedInput(f"{path}: invalid timestamp {value[:60]!r}")
        return limits.check_time(epoch_ms, path)
    raise RejectedInput(f"{path}: expected a timestamp, got {type(value).__name__}")


@lru_cache(maxsize=4096)  # a change's times often repeat (updatedAt = matchedAt), frames' too
def iso_ms(text: str) -> int | None:
    """ISO 8601 text as epoch ms (no zone: UTC), None if it is not a time."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def integer(value: int, kind: str, path: str) -> int:
    low, high = (LONG_MIN, LONG_MAX) if kind == "long" else (INT_MIN, INT_MAX)
    if not low <= value <= high:
        raise RejectedInput(f"{path}: {str(value)[:40]} does not fit an Avro {kind}")
    return value


def is_valid_text(text: str) -> bool:
    """Whether UTF-8 can carry `text` (Python strings may hold lone surrogates, UTF-8 cannot)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_is_within_bounds(raw: str | bytes, max_depth: int) -> bool:
    """Whether a WebSocket text frame's own text proves its document within the bounds, so the
    walk of `check_document` can be skipped (it costs half a parse): no more brackets than the
    depth allowed, no `\\uD…` escape (the only way to a lone surrogate in a text frame, which
    the socket has decoded as strict UTF-8), no `NaN` / `Infinity`. An overflowing literal
    (`1e400` parses as inf) is then rejected where its value is typed: every value of a frame
    is (known fields by their type, unknown ones as JSON text without NaN or infinity)."""
    return (
        isinstance(raw, str)
        and raw.count("{") + raw.count("[") <= max_depth
        and "\\ud" not in raw
        and "\\uD" not in raw
        and "NaN" not in raw
        and "Infinity" not in raw
    )


def check_document(document: Any, max_depth: int, root: str = "") -> None:
    """Depth, Unicode and finiteness of a whole parsed JSON document, without recursion.

    The walk keeps no paths (it runs on every frame); only a bad document is walked again to
    name the offending field.
    """
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        kind = type(value)
        if kind is str:
            if not value.isascii() and not is_valid_text(value):
                break
        elif kind is float:
            if not math.isfinite(value):
                break
        elif kind is dict:
            if depth >= max_depth:
                break
            for key, item in value.items():
                if not key.isascii() and not is_valid_text(key):
                    stack.clear()
                    break
                stack.append((item, depth + 1))
            else:
                continue
            break
        elif kind is list:
            if depth >= max_depth:
                break
            stack.extend((item, depth + 1) for item in value)
    else:
        return
    _name_the_fault(document, max_depth, root)


def _name_the_fault(document: Any, max_depth: int, root: str) -> None:
    """Walk a document known to be bad again, with paths, and raise naming the field."""
    stack: list[tuple[Any, int, str]] = [(document, 0, root)]
    while stack:
        value, depth, path = stack.pop()
        where = path or "<frame>"
        if isinstance(value, str):
            if not is_valid_text(value):
                raise RejectedInput(f"{where}: text is not valid Unicode")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise RejectedInput(f"{where}: {value!r} is not a number")
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                raise RejectedInput(f"{where}: JSON nested deeper than {max_depth}")
            if isinstance(value, dict):
                for key, item in value.items():
                    if not is_valid_text(key):
                        raise RejectedInput(f"{where}: a field name is not valid Unicode")
                    stack.append((item, depth + 1, f"{path}.{key}" if path else key))
            else:
                stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value))
    raise AssertionError("check_document found a fault that _name_the_fault did not")
