"""Feed JSON → Avro records: conversions, nothing lost, clear reasons for bad input."""

from __future__ import annotations

import json

import pytest

from connectors.channels import CHANNELS, ChangeRecords
from connectors.edge import EdgeLimits
from connectors.errors import RejectedInput
from connectors.records import Converter
from schemas import load_schema_dict

ENVELOPE = {
    "source": "mmapi",
    "connection_id": "c",
    "subscription_id": "1",
    "received_at": 1,
    "event_time": None,
    "origin": "LIVE",
}
AT_SPEC_FILL = EdgeLimits(clock=lambda: 1771151405000)  # the spec examples' "now"
AT_SPEC_GAME = EdgeLimits(clock=lambda: 1778197330000)
SPEC_FILL = {  # the spec's "Order fill" example
    "orderId": 123,
    "fixtureId": "id1000000861624412",
    "outcomeId": 161,
    "exchange": "polymarket",
    "exchangeOrderId": "0x1a2b3c...",
    "orderStatus": "FILLED",
    "matchedStatus": "FULLY_MATCHED",
    "orderCents": 0.45,
    "orderStake": 100.0,
    "matchedStake": 100.0,
    "matchedAt": "2026-02-15T10:30:05Z",
}


def test_spec_order_fill_becomes_a_change_record() -> None:
    records = ChangeRecords(CHANNELS["orders"], AT_SPEC_FILL)
    old = {"orderStatus": "PLACED", "matchedStatus": "NOT_MATCHED", "matchedStake": 0}
    value = records.build("UPDATE", SPEC_FILL, old, dict(ENVELOPE))
    assert value["payload"]["matchedAt"] == 1771151405000
    assert value["payload"]["matchedStake"] == 100.0
    assert value["old"]["matchedStake"] == 0.0 and value["old"]["orderId"] is None
    assert value["changed_fields"] == ["orderStatus", "matchedStatus", "matchedStake"]
    assert records.key(value["payload"]) == "123"


def test_spec_hedge_bet_keeps_sent_and_received_data_and_is_keyed_by_order() -> None:
    records = ChangeRecords(CHANNELS["bets"], AT_SPEC_FILL)
    bet = {
        "betId": 456,
        "orderId": 123,
        "client": "your-client",
        "bookmaker": "vertex",
        "placedPrice": 1.808,
        "placedStake": 100.0,
        "betStatus": "placed",
        "sentData": {
            "requestId": "a1b2c3d4",
            "eventId": 98765,
            "price": 1.808,
            "amount": 100.0,
            "side": "1",
            "oddsType": "decimal",
        },
        "receivedData": {"betId": "789", "status": "U"},
        "placedAt": "2026-02-15T10:30:08Z",
    }
    value = records.build("INSERT", bet, None, dict(ENVELOPE))
    assert records.key(value["payload"]) == "123"
    assert value["payload"]["sentData"]["eventId"] == 98765
    assert value["payload"]["sentData"]["extra"] == {"oddsType": '"decimal"'}
    assert value["payload"]["receivedData"]["betId"] == "789"
    assert value["old"] is None and value["changed_fields"] == []


def test_unknown_fields_are_kept_as_json_text() -> None:
    records = ChangeRecords(CHANNELS["orders"], AT_SPEC_FILL)
    value = records.build(
        "UPDATE", {**SPEC_FILL, "venueFee": {"bps": 2}}, {"newFlag": True}, dict(ENVELOPE)
    )
    assert json.loads(value["payload_extra"]["venueFee"]) == {"bps": 2}
    assert value["old_extra"] == {"newFlag": "true"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({**SPEC_FILL, "orderId": "not-a-number"}, "payload.orderId: expected long"),
        ({**SPEC_FILL, "matchedStake": "lots"}, "payload.matchedStake: expected double"),
        ({**SPEC_FILL, "matchedAt": "yesterday"}, "payload.matchedAt: invalid timestamp"),
        ({k: v for k, v in SPEC_FILL.items() if k != "orderId"}, "payload.orderId: required"),
    ],
)
def test_values_that_do_not_fit_are_rejected_with_the_field(
    payload: dict[str, object], reason: str
) -> None:
    with pytest.raises(RejectedInput, match=reason):
        records = ChangeRecords(CHANNELS["orders"], AT_SPEC_FILL)
        records.build("UPDATE", payload, None, dict(ENVELOPE))


def test_accounts_accept_id_as_account_id() -> None:
    records = ChangeRecords(CHANNELS["accounts"], AT_SPEC_FILL)
    value = records.build("UPDATE", {"id": 42, "balance": 10}, None, dict(ENVELOPE))
    assert value["payload"]["accountId"] == "42" and records.key(value["payload"]) == "42"


def test_predexon_nested_unknown_fields_land_in_extra() -> None:
    converter = Converter(load_schema_dict("predexon_sports_live"), AT_SPEC_GAME)
    value = converter.record(
        converter.schema,
        {
            "game_id": "mlb-ari-pit-2026-05-07",
            "sequence": 1842,
            "reliability": {"state": "single_source", "weight": 0.5},
            "significant_events": [{"type": "goal"}],
            "updated_at": "2026-05-07T23:42:10Z",
        },
        "data",
        owned={"envelope": ENVELOPE, "frame_extra": {}},
    )
    assert value["extra"] == {"reliability.weight": "0.5"}
    assert value["significant_events"] == ['{"type": "goal"}']
    assert value["updated_at"] == 1778197330000
