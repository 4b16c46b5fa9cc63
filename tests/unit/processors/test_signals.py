"""The emergency agent's signals travel batched, one record per sending batch."""

from __future__ import annotations

from processors.app import batch_of, signals_in


def test_a_batch_carries_its_signals_in_order() -> None:
    signals = [{"kind": "exposure", "order_id": n, "unhedged": 1.0} for n in range(3)]
    assert signals_in(batch_of(signals)) == signals


def test_a_single_signal_record_still_reads_as_one_signal() -> None:
    """Records written before batching (still in the topic after an upgrade) stay readable."""
    signal = {"kind": "rejection", "bet_id": "bet:1", "at": 5}
    assert signals_in(signal) == [signal]
