"""Fuzz: every frame of either feed has exactly one outcome — a raw record a stock
AvroDeserializer reads, a dead letter with its reason that fits in a Kafka record, or a control
action — and the entity's next genuine update is still published."""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import FatalSessionError, RetryableSessionError
from connectors.frames import Outcome
from tests.helpers.frames import Harness, harness
from tests.helpers.hostile import genuine_mmapi, genuine_predexon, mmapi_frames, predexon_frames

FUZZ = settings(
    max_examples=200,
    deadline=5_000,  # ms per example: the big frames are encoded and hashed
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the suite is repeatable; run with --hypothesis-seed for new cases
)
RAW_TOPICS = ("orders", "bets", "scores", "emergency", "accounts", "sports_live")
BASE_SEQUENCE = 1_000


def produced(h: Harness) -> Counter[str]:
    return Counter({topic: h.count(topic) for topic in (*RAW_TOPICS, "dlq")})


async def one_outcome(h: Harness, frame: str | bytes) -> Outcome:
    """Send `frame`; check that exactly its outcome reached the producer, readable."""
    before = produced(h)
    try:
        outcome = await h.send(frame)
    except (RetryableSessionError, FatalSessionError):  # a provider error frame: session action
        outcome = Outcome.CONTROL
    added = produced(h) - before
    if outcome is Outcome.PUBLISHED:
        assert sum(added.values()) == 1 and "dlq" not in added, added
        (topic,) = added
        assert h.decoded(topic)[-1] is not None  # a stock AvroDeserializer reads it
    elif outcome is Outcome.DEAD_LETTERED:
        assert added == Counter({"dlq": 1}), added
        letter = h.dead_letters()[-1]
        raw = frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass")
        assert letter["reason"] and raw.startswith(letter["raw"])
        assert letter["raw_size"] == len(raw)
    else:
        assert not added, (outcome, added)
    assert all(len(r.value) < 1_000_000 for r in h.producer.records[-1:])
    return outcome


def run_mmapi(example: tuple[str, str, int], tally: Counter[str]) -> None:
    frame, channel, entity = example

    async def scenario() -> None:
        h = harness("mmapi")
        assert await h.send(genuine_mmapi(channel, entity, -60_000)) is Outcome.PUBLISHED
        tally[await one_outcome(h, frame)] += 1
        follow = await h.send(genuine_mmapi(channel, entity, 1))
        assert follow is Outcome.PUBLISHED, f"the next genuine {channel} {entity} was lost"

    asyncio.run(scenario())


def run_predexon(example: tuple[str, str], tally: Counter[str]) -> None:
    frame, game = example

    async def scenario() -> None:
        h = harness("predexon")
        assert await h.send(genuine_predexon(game, BASE_SEQUENCE, -60_000)) is Outcome.PUBLISHED
        tally[await one_outcome(h, frame)] += 1
        follow = await h.send(genuine_predexon(game, BASE_SEQUENCE + 20, 1))
        assert follow is Outcome.PUBLISHED, f"the next genuine event of {game} was lost"

    asyncio.run(scenario())


def test_every_mmapi_frame_has_one_outcome_and_spares_the_next_update() -> None:
    tally: Counter[str] = Counter()

    @FUZZ
    @given(mmapi_frames())
    def check(example: tuple[str, str, int]) -> None:
        run_mmapi(example, tally)

    check()
    print(f"mmapi fuzz outcomes: {dict(tally)}")
    assert {Outcome.PUBLISHED, Outcome.DEAD_LETTERED, Outcome.CONTROL} <= set(tally)


def test_every_predexon_frame_has_one_outcome_and_spares_the_next_update() -> None:
    tally: Counter[str] = Counter()

    @FUZZ
    @given(predexon_frames(BASE_SEQUENCE))
    def check(example: tuple[str, str]) -> None:
        run_predexon(example, tally)

    check()
    print(f"predexon fuzz outcomes: {dict(tally)}")
    assert {Outcome.PUBLISHED, Outcome.DEAD_LETTERED, Outcome.CONTROL} <= set(tally)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=64))
def test_binary_frames_are_dead_lettered_or_handled(data: bytes) -> None:
    async def scenario() -> None:
        for feed in ("mmapi", "predexon"):
            h = harness(feed)
            await one_outcome(h, data)
            await one_outcome(h, data.decode("latin-1"))

    asyncio.run(scenario())
