"""The topic table is the one source of partition counts: joined topics and their tables agree."""

from __future__ import annotations

from mmstream.core.topics import CO_PARTITIONED, INTERNAL_PARTITIONS, TOPICS_BY_ID, partitions


def test_co_partitioned_topics_and_their_table_share_one_count() -> None:
    for group in CO_PARTITIONED:
        counts = {topic_id: partitions(topic_id) for topic_id in group.topic_ids}
        assert set(counts.values()) == {INTERNAL_PARTITIONS[group.table]}, (group, counts)


def test_the_score_table_is_sized_like_the_views_that_feed_it() -> None:
    assert INTERNAL_PARTITIONS["score-state"] == INTERNAL_PARTITIONS["score-views"]


def test_single_key_state_has_one_partition() -> None:
    # one emergency state, one ordered stream of signals, one partition for the feed's flag
    assert INTERNAL_PARTITIONS["emergency-state"] == INTERNAL_PARTITIONS["signals"] == 1
    assert TOPICS_BY_ID["emergency"].partitions == 1
