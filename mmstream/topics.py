"""The pipeline's topics: names (overridable by settings), keys, partitions and configs.

One table describes every topic so that `mmstream topics`, the embedded stack, the connectors and
the processors agree on partition counts (the hedge join needs `mmapi.orders` and `mmapi.bets`
co-partitioned) and on which topics are compacted.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    """One pipeline topic: its logical id, default name, key, and creation settings."""

    id: str
    default_name: str
    key: str
    value_schema: str | None  # None: the original bytes of another topic (dead letters)
    written_by: str
    partitions: int = 4
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
        "hedge_fills", "hedge.fills", "orderId", "hedge_fill", "processors", 4, COMPACT_DELETE
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
        4,
        COMPACT_DELETE,
    ),
)

TOPICS_BY_ID: dict[str, TopicSpec] = {t.id: t for t in TOPICS}
