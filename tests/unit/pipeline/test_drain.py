"""The partitions `mmstream up --exit-when-done` waits on are every one the worker's agents read."""

from __future__ import annotations

from mmstream.core.settings import TopicSettings
from mmstream.core.topics import TOPICS
from mmstream.pipeline.drain import INTERNAL_INPUTS, RAW_INPUTS, worker_inputs
from processors.app import INTERNAL_TOPICS


def test_every_raw_topic_and_every_internal_topic_of_the_worker_is_waited_on() -> None:
    raw = {t.id for t in TOPICS if t.written_by in ("mmapi connector", "predexon connector")}
    assert set(RAW_INPUTS) == raw
    assert set(INTERNAL_INPUTS) == {suffix for suffix, _ in INTERNAL_TOPICS.values()}
    topics = TopicSettings()
    partitions = worker_inputs(topics, "app")
    assert {p.topic for p in partitions} == {topics.name(t) for t in raw} | {
        "app-signals",
        "app-score-views",
    }
    by_topic = {
        t: sum(1 for p in partitions if p.topic == t) for t in {p.topic for p in partitions}
    }
    assert by_topic[topics.name("orders")] == 4 and by_topic[topics.name("emergency")] == 1
    assert by_topic["app-signals"] == 1 and by_topic["app-score-views"] == 4
