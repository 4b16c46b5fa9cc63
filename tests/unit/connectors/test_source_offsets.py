"""Source offsets become durable only behind acknowledged records; Predexon URL forms."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from connectors.metrics import ConnectorMetrics
from connectors.mmapi import MmapiProtocol
from connectors.offsets import Position, PositionTracker
from connectors.publisher import Connection, Publisher
from connectors.settings import MmapiSettings, PredexonSettings
from mmstream.core.settings import load_settings


def test_a_position_waits_for_every_record_queued_before_it() -> None:
    tracker = PositionTracker()
    tracker.note(1, "orders", Position(100))  # after record 0
    tracker.note(2, "bets", Position(150))  # after record 1
    tracker.note(3, "orders", Position(200))  # after record 2
    assert tracker.advance(0) == {}, "record 0 not acknowledged yet"
    assert tracker.advance(1) == {"orders": Position(100)}
    # record 2 acknowledged before record 1: nothing after record 1 may be recorded yet
    assert tracker.advance(1) == {}
    assert tracker.advance(3) == {"bets": Position(150), "orders": Position(200)}
    assert tracker.durable == {"orders": Position(200), "bets": Position(150)}
    assert tracker.advance(3) == {}, "unchanged positions are not written again"


def test_an_open_gap_is_part_of_the_position() -> None:
    tracker = PositionTracker()
    tracker.note(5, "orders", Position(900))
    tracker.note(5, "orders", Position(900, gap_from_ms=400))  # gap opened, no record between
    assert tracker.advance(5) == {"orders": Position(900, 400)}
    tracker.note(6, "orders", Position(950, 400))
    tracker.note(9, "orders", Position(990, None))  # gap closed after the last REST row
    assert tracker.advance(8) == {"orders": Position(950, 400)}, "REST rows not all durable"
    assert tracker.advance(9) == {"orders": Position(990)}


@pytest.mark.parametrize(
    "url",
    [
        "wss://wss.predexon.com",
        "wss://wss.predexon.com/",
        "wss://wss.predexon.com/v1",
        "wss://wss.predexon.com/v1/",
        "wss://wss.predexon.com/v1/<API_KEY>",
        "wss://wss.predexon.com/v1/YOUR_DATA_KEY",
        "wss://wss.predexon.com/v1/k-123",
    ],
)
def test_predexon_websocket_url_in_the_documented_forms(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDEXON_WS_URL", url)
    settings = load_settings(PredexonSettings)
    assert settings.websocket_url("k-123") == "wss://wss.predexon.com/v1/k-123"
    assert settings.key_in_url() == ("k-123" if url.endswith("k-123") else None)


def test_a_proxy_path_before_v1_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDEXON_WS_URL", "ws://127.0.0.1:9000/predexon")
    settings = load_settings(PredexonSettings)
    assert settings.websocket_url("k") == "ws://127.0.0.1:9000/predexon/v1/k"


def mmapi_protocol() -> MmapiProtocol:
    settings = MmapiSettings(api_key=SecretStr("k"), backfill_margin_s=2)
    metrics = ConnectorMetrics("mmapi")
    return MmapiProtocol(settings, Publisher("mmapi", None, metrics), metrics)  # type: ignore[arg-type]


def test_with_nothing_recorded_the_connector_starts_from_now_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="connectors.gaps")
    protocol = mmapi_protocol()
    protocol.restore({})
    protocol.open_gap(Connection("c1"))
    assert protocol.gaps.gap_from_ms == {}
    assert "no position recorded by an earlier process: starting from now" in caplog.text


def test_the_first_session_after_a_restart_fills_each_channel_from_its_position() -> None:
    protocol = mmapi_protocol()
    protocol.restore({"orders": Position(10_000), "bets": Position(9_000, gap_from_ms=5_000)})
    protocol.open_gap(Connection("c1"))  # a fresh process: not a reconnect, yet a gap to close
    assert protocol.gaps.gap_from_ms == {"orders": 8_000, "bets": 5_000}, (
        "margin 2 s; unfinished fill"
    )


def test_a_channel_without_a_position_fills_from_the_earliest_recorded() -> None:
    protocol = mmapi_protocol()
    protocol.restore({"orders": Position(10_000)})
    protocol.open_gap(Connection("c1"))
    assert protocol.gaps.gap_from_ms == {"orders": 8_000, "bets": 8_000}


def test_a_position_in_the_future_is_not_believed(caplog: pytest.LogCaptureFixture) -> None:
    protocol = mmapi_protocol()
    year_9999 = 253_402_300_799_000
    protocol.restore({"orders": Position(year_9999), "bets": Position(10_000)})
    protocol.open_gap(Connection("c1"))
    assert protocol.gaps.gap_from_ms == {"orders": 8_000, "bets": 8_000}
    assert "ignored a recorded orders position in the future" in caplog.text
