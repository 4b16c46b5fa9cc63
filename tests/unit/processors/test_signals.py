"""The signals between agents: one typed contract, one codec, batched per sending call."""

from __future__ import annotations

import pytest

from processors import signals


def test_every_kind_round_trips_through_the_codec() -> None:
    sent: list[signals.Signal] = [
        signals.Exposure(7, "f1", 12.5, 1000),
        signals.Exposure(8, None, 0.0, 1001),
        signals.Rejection("bet:1", 1002),
        signals.Activity("predexon", 1003, 2003),
        signals.Conflict("g1", "f1", True, 1004),
    ]
    record = signals.batch([signals.encode(s) for s in sent])
    assert signals.decode_record(record) == sent


def test_a_single_signal_record_still_reads_as_one_signal() -> None:
    """Records written before batching (still in the topic after an upgrade) stay readable."""
    value = {"kind": "rejection", "bet_id": "bet:1", "at": 5}
    assert signals.decode_record(value) == [signals.Rejection("bet:1", 5)]


def test_a_bad_signal_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown signal kind 'nope'"):
        signals.decode({"kind": "nope"})
    with pytest.raises(ValueError, match="bad exposure signal"):
        signals.decode({"kind": "exposure", "order_id": 1})


def test_logic_modules_build_the_outputs_the_wiring_batches() -> None:
    output = signals.output(signals.Rejection("bet:2", 9))
    assert (output.topic_id, output.key) == ("signals", "emergency")
    assert signals.decode(output.value) == signals.Rejection("bet:2", 9)
