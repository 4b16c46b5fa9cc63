"""A hostile provider on a real WebSocket on 127.0.0.1: a seeded batch of the nastiest frames
of issue 15, interleaved with valid ones, against the connector process, the session broker
and the registry. The process never exits, and every frame is accounted for: dead letters +
published records + control actions + dropped repeats = frames delivered, and the frames the
WebSocket library refuses (too large, invalid UTF-8) are counted and the session goes on."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.server import ServerConnection, serve

from mmstream.core.child_process import free_port
from mmstream.core.deadletter import header_map
from mmstream.core.settings import TopicSettings
from tests.fixtures.kafka import TestCluster
from tests.helpers.hostile import genuine_mmapi, genuine_predexon, now_ms
from tests.helpers.kafka import consume
from tests.helpers.processes import Child, wait_for

MAX_FRAME_BYTES = 3 * 2**20
ACKNOWLEDGED = "mmstream_connector_records_published_total"
TOO_LARGE = object()  # a frame over MAX_FRAME_BYTES: the client closes with 1009
INVALID_UTF8 = object()  # a text frame that is not UTF-8: the client closes with 1007


def mmapi_nasty(at: int) -> list[Any]:
    order = '{"type":"broadcast","channel":"orders","event":"UPDATE","payload":'
    return [
        '{"type":[],"channel":"orders","event":"UPDATE","payload":{"orderId":1}}',
        '{"type":{"t":1},"channel":"orders","payload":{}}',
        order + '{"orderId":11,"updatedAt":NaN}}',
        order + '{"orderId":12,"updatedAt":Infinity}}',
        order + '{"orderId":9223372036854775808}}',
        order + '{"orderId":13,"client":"\\ud800","updatedAt":' + str(at) + "}}",
        order + '{"orderId":14,"x\\udc00":1,"updatedAt":' + str(at) + "}}",
        order + '{"orderId":15,"deep":' + "[" * 1000 + "]" * 1000 + "}}",
        order + '{"orderId":16,"updatedAt":1000000000000000}}',
        order + '{"orderId":17,"updatedAt":' + str(at) + ',"createdAt":-100000000000000}}',
        order + '{"orderId":18,"updatedAt":"9999-12-31T23:59:59Z"}}',
        order + '{"orderId":19,"updatedAt":' + str(at) + ',"blob":"' + "x" * 1_500_000 + '"}}',
        '{"type":"broadcast","channel":"emergency","payload":{"emergency":true,'
        '"triggeredAt":"9999-12-31T23:59:59Z"}}',
        '{"type":"broadcast","channel":"scores","seq":1,"payload":{"fixtureId":"f1",'
        '"updatedAt":' + str(at) + ',"scores":{"home":1,"away":0,"periods":{"1":[1,0]}}}}',
        '{"type":"broadcast","channel":"nope","payload":{}}',
        '{"type":"heartbeat"}',
        '{"type":"pong"}',
        "not json at all",
        "{" * 100_000,
        "1" * 5000,
        b'{"type":"pong"}',  # a binary frame
        TOO_LARGE,
        INVALID_UTF8,
    ]


def predexon_nasty(at: int) -> list[Any]:
    event = '{"type":"event","data":{"event_type":"sports_live_state","game_id":"g9",'
    return [
        '{"type":{"t":1},"data":{}}',
        event + '"updated_at":Infinity}}',
        event + '"sequence":9223372036854775808,"updated_at":' + str(at) + "}}",
        event + '"sequence":4611686018427387904,"updated_at":' + str(at) + "}}",
        '{"type":"event","data":{"event_type":"sports_live_state","game_id":"g3\\udc00"}}',
        event + '"sequence":5,"extra":{"k":1},"envelope":{"a":1},"updated_at":' + str(at) + "}}",
        event + '"deep":' + "{" * 1000 + "}" * 1000 + "}}",
        event + '"updated_at":"9999-12-31T23:59:59Z"}}',
        event + '"blob":"' + "y" * 2_000_000 + '","updated_at":' + str(at) + "}}",
        '{"type":"ack"}',
        '{"type":"error","code":"X","message":"bad"}',
        "[1,2",
        TOO_LARGE,
        INVALID_UTF8,
    ]


VALID = 40


def batch(feed: str, seed: int = 15) -> list[Any]:
    """The nasty frames at seeded places among valid ones, which stay in order."""
    at = now_ms() - 5_000
    nasty = mmapi_nasty(at) if feed == "mmapi" else predexon_nasty(at)
    if feed == "mmapi":
        frames = [genuine_mmapi("orders", 100 + i % 4, i) for i in range(VALID)]
    else:
        frames = [genuine_predexon(f"v{i % 4}", 1_000 + i, i) for i in range(VALID)]
    rng = random.Random(seed)
    for frame in nasty:
        frames.insert(rng.randrange(len(frames) + 1), frame)
    return frames


@dataclass
class HostileProvider:
    """Serves the feed's handshake, then the next frames of `frames` on each connection."""

    feed: str
    frames: list[Any]
    accounted: Callable[[int], Awaitable[None]]  # until the connector has handled n frames
    sent: int = 0
    delivered: int = 0  # frames the connector received (not refused by its library)
    connections: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        if self.feed == "mmapi":
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribed", "subscriptionId": self.connections}))
        else:
            await ws.send(json.dumps({"type": "connected"}))
            await ws.recv()
            await ws.send(json.dumps({"type": "ack", "subscription_id": f"s{self.connections}"}))
        while self.sent < len(self.frames):
            frame = self.frames[self.sent]
            if frame is TOO_LARGE or frame is INVALID_UTF8:
                await self.accounted(self.delivered)  # frames before it are not lost with it
            self.sent += 1
            if frame is TOO_LARGE:
                await ws.send("z" * (MAX_FRAME_BYTES + 10))
                await ws.wait_closed()
                return
            if frame is INVALID_UTF8:
                await ws.send(b'{"type":"pong","x":"\xff\xfe"}', text=True)
                await ws.wait_closed()
                return
            await ws.send(frame)
            self.delivered += 1
        self.done.set()
        await ws.wait_closed()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, pairs), value in samples.items()
        if sample == name and all((k, v) in pairs for k, v in labels.items())
    )


@pytest.fixture
async def rest_for_predexon() -> AsyncIterator[str]:
    async def live(request: web.Request) -> web.Response:
        return web.json_response({"live_states": [], "pagination": {"has_more": False}})

    app = web.Application()
    app.router.add_get("/v2/sports/live", live)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("feed", ["mmapi", "predexon"])
async def test_no_frame_ends_the_connector_and_every_frame_is_accounted_for(
    feed: str,
    cluster: TestCluster,
    topics: TopicSettings,
    rest_for_predexon: str,
    tmp_path: Any,
) -> None:
    metrics_port = free_port()

    def handled() -> float:
        try:
            return total(scrape(metrics_port), "mmstream_connector_frames_total")
        except OSError:
            return 0.0

    async def accounted(count: int) -> None:
        await wait_for(lambda: handled() >= count, 60, f"{count} frames to have an outcome")

    provider = HostileProvider(feed, batch(feed), accounted)
    prefix = "MMAPI_" if feed == "mmapi" else "PREDEXON_"
    async with serve(provider.handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        env = {
            **cluster.env(topics),
            f"{prefix}API_KEY": "hostile-key-123",
            f"{prefix}METRICS_PORT": str(metrics_port),
            f"{prefix}METRICS_HOST": "127.0.0.1",
            f"{prefix}MAX_FRAME_BYTES": str(MAX_FRAME_BYTES),
            f"{prefix}BACKOFF_BASE_S": "0.1",
            f"{prefix}BACKOFF_CAP_S": "0.5",
        }
        if feed == "mmapi":
            env |= {
                "MMAPI_WS_URL": f"ws://127.0.0.1:{port}/ws/subscribe",
                "MMAPI_REST_URL": "http://127.0.0.1:9",  # no gap fill: no order/bet channel
                "MMAPI_CHANNELS": "scores,emergency,accounts",
            }
        else:
            env |= {
                "PREDEXON_WS_URL": f"ws://127.0.0.1:{port}",
                "PREDEXON_REST_URL": rest_for_predexon,
            }
        connector = Child(["connect", feed], env, tmp_path / f"{feed}.log")
        try:
            ended = lambda: provider.done.is_set() or connector.process.poll() is not None  # noqa: E731
            await wait_for(ended, 120, "the batch to be sent")
            assert connector.process.poll() is None, connector.output[-2000:]
            await accounted(provider.delivered)
            samples = scrape(metrics_port)
            assert connector.process.poll() is None, connector.output[-2000:]
            outcomes = {
                outcome: total(samples, "mmstream_connector_frames_total", outcome=outcome)
                for outcome in ("published", "dead_lettered", "control", "dropped")
            }
            assert sum(outcomes.values()) == provider.delivered, outcomes
            assert outcomes["published"] >= VALID and outcomes["dropped"] == 0, outcomes
            refused = {
                reason: total(samples, "mmstream_connector_frames_refused_total", reason=reason)
                for reason in ("too_large", "invalid_utf8")
            }
            assert refused == {"too_large": 1, "invalid_utf8": 1}
            assert provider.connections == 3, "the session went on after each refused frame"
            records_out = outcomes["published"] + outcomes["dead_lettered"]

            def acknowledged() -> float:
                return total(scrape(metrics_port), ACKNOWLEDGED)

            await wait_for(lambda: acknowledged() >= records_out, 60, "Kafka to acknowledge")
            samples = scrape(metrics_port)
            raw_topics = ("orders", "bets", "scores", "emergency", "accounts", "sports_live")
            published = 0
            for topic_id in raw_topics:
                name = topics.name(topic_id)
                count = total(samples, ACKNOWLEDGED, topic=name)
                if count:
                    records = consume(cluster.target, name, int(count), 30, quiet_s=1.0)
                    assert len(records) == count, name
                    published += len(records)
            assert published == outcomes["published"]
            dead = consume(
                cluster.target, topics.name("dlq"), int(outcomes["dead_lettered"]), 30, quiet_s=1.0
            )
            assert len(dead) == outcomes["dead_lettered"]
            assert all(len(message.value() or b"") < 1_000_000 for *_, message in dead)
            for key, _, message in dead:  # as Kafka Connect writes them: original bytes + headers
                connect = header_map(message.headers())
                assert key == feed and message.value(), connect
                assert connect["connector.name"] == f"mmstream-{feed}"
                assert connect["exception.class.name"].startswith("connectors.errors.")
                assert connect["exception.stacktrace"].startswith("Traceback")
            print(f"{feed}: {provider.sent} frames sent, {outcomes}, refused {refused}")
            assert await connector.stop() == 0
        finally:
            connector.kill()
