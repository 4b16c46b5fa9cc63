"""The pipeline's topics: names (overridable by settings), keys, partitions and configs.

One table describes every topic so that `mmstream topics`, the embedded stack, the connectors and
the processors agree on partition counts (the hedge join needs `mmapi.orders` and `mmapi.bets`
co-partitioned) and on which topics are compacted. The processors' tables and internal topics
take their partition counts from here too (`INTERNAL_PARTITIONS`), and a worker checks at
start-up that the cluster's co-partitioned topics (`CO_PARTITIONED`) have the count declared here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Keyed topics: the unit of scale-out (one worker per partition at most). Changing it means
# recreating the keyed topics and the processors' changelogs with the new count.
PARTITIONS = 4


@dataclass(frozen=True)
class TopicSpec:
    """One pipeline topic: its logical id, default name, key, and creation settings."""

    id: str
    default_name: str
    key: str
    value_schema: str | None  # None: the original bytes of another topic (dead letters)
    written_by: str
    partitions: int = PARTITIONS
    config: dict[str, str] = field(default_factory=dict)


COMPACT = {"cleanup.policy": "compact"}
COMPACT_DELETE = {"cleanup.policy": "compact,delete"}
WEEK_MS = str(7 * 24 * 3600 * 1000)

# partitions: the raw change topics that are joined by orderId must have the same count.
TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("orders", "mmapi.orders", "orderId", "mmapi_order", "mmapi connector"),
    TopicSpec("bets", "mmapi.bets", "orderId", "mmapi_bet", "mmapi connector"),
    TopicSpec("accounts", "mmapi.accounts", "account id", "mmapi_account", "mmapi connector"),
    TopicSpec("scores", "mmapi.scores", "fixtureId", "mmapi_score", "mmapi connector"),
    TopicSpec("emergency", "mmapi.emergency", "constant", "mmapi_emergency", "mmapi connector", 1),
    TopicSpec(
        "sports_live",
        "predexon.sports_live",
        "game_id",
        "predexon_sports_live",
        "predexon connector",
    ),
    TopicSpec(
        "dlq",
        "connectors.dlq",
        "source",
        None,  # the provider's original bytes, as Kafka Connect's dead letters
        "both connectors",
        1,
        {"retention.ms": WEEK_MS},
    ),
    TopicSpec(
        "connector_offsets",
        "connectors.offsets",
        "feed/channel",
        "connectors_offset",
        "both connectors",
        1,
        COMPACT,
    ),
    TopicSpec(
        "processors_dlq",
        "processors.dlq",
        "original key",
        None,
        "processors",
        1,
        {"retention.ms": WEEK_MS},
    ),
    TopicSpec(
        "fixture_map",
        "reference.fixture_map",
        "fixtureId",
        "reference_fixture_map",
        "CLI / users",
        1,
        COMPACT,
    ),
    TopicSpec(
        "hedge_fills",
        "hedge.fills",
        "orderId",
        "hedge_fill",
        "processors",
        PARTITIONS,
        COMPACT_DELETE,
    ),
    TopicSpec(
        "risk_emergency", "risk.emergency", "scope", "risk_emergency", "processors", 1, COMPACT
    ),
    TopicSpec("risk_alerts", "risk.alerts", "subject", "risk_alert", "processors"),
    TopicSpec(
        "scores_reconciled",
        "scores.reconciled",
        "game",
        "score_reconciliation",
        "processors",
        PARTITIONS,
        COMPACT_DELETE,
    ),
)

TOPICS_BY_ID: dict[str, TopicSpec] = {t.id: t for t in TOPICS}


def partitions(topic_id: str) -> int:
    """The partition count declared for a pipeline topic."""
    return TOPICS_BY_ID[topic_id].partitions


@dataclass(frozen=True)
class CoPartitioned:
    """Topics one agent joins by key: partition n of each holds the same keys only when every
    topic has the same count (and the agent's table, sized from it, has it too)."""

    reader: str
    topic_ids: tuple[str, ...]
    table: str


HEDGE_JOIN = CoPartitioned("the hedge join", ("orders", "bets"), "hedge-state")
# One key (one state for the whole feed): every topic folded into it must have one partition,
# so that one worker reads them all (Faust's assignor gives partition 0 of every 1-partition
# topic to one member). The agents' signals reach it through the 1-partition signals topic.
EMERGENCY_STATE = CoPartitioned("the emergency agent", ("emergency",), "emergency-state")
CO_PARTITIONED: tuple[CoPartitioned, ...] = (HEDGE_JOIN, EMERGENCY_STATE)

# The processors' tables and internal topics (names after the app id). A table keyed like its
# source topics has their count; the emergency state is one key, the signals one ordered stream.
INTERNAL_PARTITIONS: dict[str, int] = {
    "hedge-state": partitions("orders"),
    "score-views": PARTITIONS,
    "score-state": PARTITIONS,  # fed by score-views, keyed alike (by game)
    "emergency-state": 1,
    "signals": 1,
}
