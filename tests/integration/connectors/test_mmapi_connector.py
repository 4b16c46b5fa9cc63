"""The MM API connector against the simulator, the session broker and the registry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from mmstream.core.deadletter import header_map
from mmstream.core.settings import TopicSettings
from mmstream.simulators import FaultConfig, SimulatorCluster
from mmstream.simulators.scenario import DEFAULT_CLIENT
from mmstream.simulators.timeline import render
from schemas.values import plain
from tests.fixtures.kafka import TestCluster
from tests.fixtures.simulators import quick_config
from tests.helpers.kafka import consume, consume_until
from tests.helpers.processes import Child

CLIENT_CHANNELS = ("orders", "bets", "accounts")


def expected_broadcasts(sims: SimulatorCluster) -> dict[str, list[dict[str, Any]]]:
    """What the simulator sent to the default client, by channel (rendered as on the wire)."""
    sent: dict[str, list[dict[str, Any]]] = {}
    for step in sims.steps:
        if step.feed != "mmapi":
            continue
        if step.channel in CLIENT_CHANNELS and step.client != DEFAULT_CLIENT:
            continue
        message = {"event": step.event, "payload": render(step.payload, sims.anchor_ms)}
        if step.old is not None:
            message["old"] = render(step.old, sims.anchor_ms)
        sent.setdefault(step.channel, []).append(message)
    return sent


def stock_decoder(registry_url: str) -> Callable[[bytes], Any]:
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    context = SerializationContext("", MessageField.VALUE)
    return lambda data: plain(deserialize(data, context))


def identity(channel: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    """What makes one broadcast distinct: the entity and its state."""
    if channel == "orders":
        return (
            payload["orderId"],
            payload["matchedStake"],
            payload["orderStatus"],
            payload["settlementStatus"],
        )
    if channel == "bets":
        return payload["betId"], payload["betStatus"], payload["settlementStatus"]
    if channel == "accounts":
        return payload["accountId"], payload["balance"]
    if channel == "scores":
        return payload["fixtureId"], payload["scores"]["home"], payload["scores"]["away"]
    return payload["emergency"], payload["reason"]


async def run_until_sent(
    run_connector: Callable[..., Child], sims: SimulatorCluster, **extra: str
) -> Child:
    connector = run_connector("mmapi", sims, **extra)
    await asyncio.sleep(0)  # the scenario starts once the connector is subscribed
    for _ in range(300):
        if "subscribed" in connector.output:
            break
        await asyncio.sleep(0.05)
    sims.play()
    await sims.wait_finished(60)
    return connector


async def test_every_broadcast_reaches_kafka_as_sent(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
    cluster: TestCluster,
    topics: TopicSettings,
) -> None:
    sims = await simulators_factory(quick_config(duration_s=3), autoplay=False)
    connector = await run_until_sent(run_connector, sims)
    decode = stock_decoder(cluster.registry_url)
    sent = expected_broadcasts(sims)
    for channel, messages in sent.items():
        records = [
            v
            for _, v, _ in consume(
                cluster.target, topics.name(channel), len(messages), 30, decode, quiet_s=0.5
            )
        ]
        assert len(records) == len(messages), f"{channel}: exactly once without faults"
        for message, record in zip(
            sorted(messages, key=lambda m: json.dumps(identity(channel, m["payload"]))),
            sorted(records, key=lambda r: json.dumps(identity(channel, r["payload"]))),
            strict=True,
        ):
            assert identity(channel, record["payload"]) == identity(channel, message["payload"])
            assert record["event"] == message["event"]
            assert sorted(record["changed_fields"]) == sorted(message.get("old") or {})
            envelope = record["envelope"]
            assert envelope["source"] == "mmapi" and envelope["origin"] == "LIVE"
            assert envelope["subscription_id"] and envelope["connection_id"]
            assert envelope["received_at"] > 0
    assert await connector.stop() == 0
    assert sims.mmapi_api_key not in connector.output


async def test_bets_are_keyed_by_their_order(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
    cluster: TestCluster,
    topics: TopicSettings,
) -> None:
    sims = await simulators_factory(quick_config(duration_s=2), autoplay=False)
    connector = await run_until_sent(run_connector, sims)
    bets = expected_broadcasts(sims)["bets"]
    decode = stock_decoder(cluster.registry_url)
    for key, value, _ in consume(cluster.target, topics.name("bets"), len(bets), 30, decode):
        assert key == str(value["payload"]["orderId"])
    assert await connector.stop() == 0


@pytest.mark.parametrize("page_size", ["500", "7"], ids=["one-page", "many-pages"])
async def test_drops_and_a_server_restart_lose_nothing(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
    cluster: TestCluster,
    topics: TopicSettings,
    page_size: str,
) -> None:
    faults = FaultConfig(disconnect_every=120, restarts=1, restart_downtime_s=0.3)
    sims = await simulators_factory(quick_config(duration_s=5, faults=faults), autoplay=False)
    connector = await run_until_sent(run_connector, sims, MMAPI_REST_PAGE_SIZE=page_size)
    decode = stock_decoder(cluster.registry_url)
    truth = {o.order_id: o for o in sims.truth.client_orders()}
    filled = {o: truth[o].filled_stake for o in truth}

    def final_matched(records: list[tuple[str | None, Any]]) -> dict[int, float]:
        matched: dict[int, float] = {}
        for _, record in records:
            order_id = record["payload"]["orderId"]
            stake = record["payload"]["matchedStake"] or 0.0
            matched[order_id] = max(matched.get(order_id, 0.0), stake)
        return matched

    # the socket is read in a thread: the simulators answer the last gap fill meanwhile
    orders = await asyncio.to_thread(
        consume_until,
        cluster.target,
        topics.name("orders"),
        lambda records: final_matched(records) == filled,
        60,
        decode,
    )
    bet_ids = {b.bet_id for o in truth.values() for b in o.bets}
    bets = await asyncio.to_thread(
        consume_until,
        cluster.target,
        topics.name("bets"),
        lambda records: {r["payload"]["betId"] for _, r in records} >= bet_ids,
        60,
        decode,
    )
    assert {r["payload"]["betId"] for _, r in bets} == bet_ids, "no bet of another client"
    assert sims.counters["disconnects"] + sims.counters["restarts"] >= 2
    backfilled = [r for _, r in orders + bets if r["envelope"]["origin"] == "BACKFILL"]
    assert backfilled, "the gaps were closed from REST"
    updated: dict[int, list[Any]] = {}
    for _, record in orders:  # one key, one partition: topic order is publish order
        updated.setdefault(record["payload"]["orderId"], []).append(
            record["envelope"]["event_time"]
        )
    for order_id, times in updated.items():
        assert times == sorted(times), f"order {order_id}: an older state after a newer one"
    assert await connector.stop() == 0


async def test_a_stalled_broker_loses_nothing(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
    cluster: TestCluster,
    topics: TopicSettings,
    broker_control: Any,
) -> None:
    sims = await simulators_factory(quick_config(duration_s=6), autoplay=False)
    connector = run_connector("mmapi", sims)
    for _ in range(300):
        if "subscribed" in connector.output:
            break
        await asyncio.sleep(0.05)
    sims.play()
    await asyncio.sleep(1.5)
    broker_control.pause()  # SIGSTOP: the broker keeps its data but answers nothing
    try:
        await asyncio.sleep(4)
    finally:
        broker_control.resume()
    await sims.wait_finished(60)
    decode = stock_decoder(cluster.registry_url)
    sent = expected_broadcasts(sims)
    for channel in ("orders", "bets"):
        records = [
            v
            for _, v, _ in consume(
                cluster.target, topics.name(channel), len(sent[channel]), 60, decode, quiet_s=0.5
            )
        ]
        got = {identity(channel, r["payload"]) for r in records}
        assert got == {identity(channel, m["payload"]) for m in sent[channel]}
    assert await connector.stop() == 0


async def test_bad_input_goes_to_the_dead_letter_topic(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
    cluster: TestCluster,
    topics: TopicSettings,
) -> None:
    faults = FaultConfig(
        malformed_p=0.02,
        unknown_channel_p=0.02,
        unknown_type_p=0.02,
        wrong_type_p=0.02,
        duplicate_p=0.05,
    )
    sims = await simulators_factory(quick_config(duration_s=3, faults=faults), autoplay=False)
    connector = await run_until_sent(run_connector, sims)
    bad = sum(
        sims.counters[k] for k in ("malformed", "unknown_channel", "unknown_type", "wrong_type")
    )
    letters = consume(cluster.target, topics.name("dlq"), bad, 30, quiet_s=0.5)
    assert len(letters) == bad > 0
    connect = [header_map(message.headers()) for *_, message in letters]
    reasons = {c["exception.message"].split(":")[0] for c in connect}
    assert {"malformed JSON", "unknown channel", "unknown message type"} <= reasons
    mismatches = [c for c in connect if c["exception.message"].startswith("payload.")]
    assert mismatches, "schema mismatch"
    bound_for = {topics.name(t) for t in ("orders", "bets", "accounts", "scores", "emergency")}
    assert all(c["topic"] in bound_for for c in mismatches), "the topic it was bound for"
    for (key, raw, _), headers in zip(letters, connect, strict=True):
        assert key == "mmapi" and raw, "the original frame is the value"
        assert headers["exception.class.name"] == "connectors.errors.RejectedInput"
        assert headers["stage"] == "VALUE_CONVERTER" and headers["task.id"] == "0"
        assert headers["exception.stacktrace"].startswith("Traceback")
    decode = stock_decoder(cluster.registry_url)
    orders = expected_broadcasts(sims)["orders"]
    records = consume(cluster.target, topics.name("orders"), len(orders), 30, decode, quiet_s=0.5)
    assert len(records) == len(orders), "duplicated broadcasts are published once"
    assert await connector.stop() == 0


async def test_an_invalid_key_stops_with_a_clear_message(
    simulators_factory: Any,
    run_connector: Callable[..., Child],
) -> None:
    sims = await simulators_factory(quick_config())
    bad_key = "00000000-0000-4000-8000-00000000beef"
    connector = run_connector("mmapi", sims, key=bad_key)
    assert await connector.wait(30) == 3
    assert "Invalid API key" in connector.output
    assert bad_key not in connector.output
