"""Error classification and the published-state memory (pure pieces)."""

from __future__ import annotations

import pytest

from connectors.errors import FatalSessionError, RetryableSessionError
from connectors.mmapi import classify_error
from connectors.settings import MmapiSettings, PredexonSettings
from connectors.state import PublishedState, SequenceTracker, SequenceVerdict, fingerprint
from mmstream.core.errors import ConfigurationError
from mmstream.core.settings import load_settings


def test_mmapi_errors_are_classified() -> None:
    for fatal in ("Invalid API key", "Invalid apiKey format", "apiKey required"):
        assert isinstance(classify_error(fatal), FatalSessionError)
    limit = classify_error("Connection limit exceeded")
    assert isinstance(limit, RetryableSessionError) and limit.slow
    other = classify_error("Internal error")
    assert isinstance(other, RetryableSessionError) and not other.slow


def test_sequence_tracker_drops_old_and_counts_gaps() -> None:
    tracker = SequenceTracker()
    assert tracker.check("g", 5) == (SequenceVerdict.NEXT, 0)
    assert tracker.check("g", 5) == (SequenceVerdict.OLD, 0)
    assert tracker.check("g", 4) == (SequenceVerdict.OLD, 0)
    assert tracker.check("g", 8) == (SequenceVerdict.NEXT, 2)
    assert tracker.check("h", 1) == (SequenceVerdict.NEXT, 0)


def test_published_state_is_bounded_and_knows_repeats_and_stale_snapshots() -> None:
    state = PublishedState(capacity=2)
    state.remember("orders", "1", fingerprint("a"), 100, {})
    state.remember("orders", "2", fingerprint("b"), 100, {})
    state.remember("orders", "3", fingerprint("c"), 100, {})
    assert state.get("orders", "1") is None, "least recently published evicted"
    assert state.is_repeat("orders", "3", fingerprint("c"))
    assert not state.is_repeat("orders", "3", fingerprint("d"))
    assert state.is_stale("orders", "3", 100) and not state.is_stale("orders", "3", 101)
    assert state.is_older("orders", "3", 99) and not state.is_older("orders", "3", 100)
    assert not state.is_older("orders", "4", 1), "nothing published: nothing is late"


def test_the_published_state_capacity_is_a_setting_checked_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMAPI_REMEMBERED_ENTITIES", "250000")
    assert load_settings(MmapiSettings).remembered_entities == 250_000
    monkeypatch.setenv("PREDEXON_REMEMBERED_ENTITIES", "10")
    with pytest.raises(ConfigurationError, match="PREDEXON_REMEMBERED_ENTITIES"):
        load_settings(PredexonSettings)
