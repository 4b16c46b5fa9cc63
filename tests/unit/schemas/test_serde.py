"""Serde helpers (the wire format itself is checked on the real registry in integration)."""

from __future__ import annotations

from schemas.serde import decode_key, encode_key
from schemas.values import millis


def test_keys_are_utf8_strings() -> None:
    assert encode_key(123) == b"123"
    assert decode_key(b"mlb-ari-pit-2026-05-07") == "mlb-ari-pit-2026-05-07"
    assert encode_key(None) is None


def test_millis_is_exact_for_large_values() -> None:
    from datetime import UTC, datetime, timedelta

    moment = datetime(2200, 1, 1, tzinfo=UTC) + timedelta(milliseconds=475)
    assert millis(moment) == 7_258_118_400_475
    assert millis(5) == 5 and millis(None) is None
