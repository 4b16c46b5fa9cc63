"""Whether the worker group has taken in everything the feeds wrote, read from the broker: the
group's committed offsets against the end offsets of every topic its agents read (the raw topics
and the worker's internal topics).

Faust flushes the worker's producer before each commit (`processors/sink.py`), so a committed
offset also means the derived records of everything before it were written. What a worker's
metrics say can be old (a worker stopped, starved or recovering answers late or not at all), so
`mmstream up --exit-when-done` asks the broker.
"""

from __future__ import annotations

from mmstream.core.kafka.config import ClusterTarget
from mmstream.core.kafka.group_lag import READ_TIMEOUT_S, GroupLag, Partition
from mmstream.core.settings import TopicSettings
from mmstream.core.topics import INTERNAL_PARTITIONS, TOPICS_BY_ID

# the raw topics, every one read by an agent (processors/*/agent.py)
RAW_INPUTS = ("orders", "bets", "accounts", "scores", "emergency", "sports_live")
# the worker's internal topics read by agents: `<app id>-<name>` (processors/app.py)
INTERNAL_INPUTS = ("signals", "score-views")


def worker_inputs(topics: TopicSettings, app_id: str) -> list[Partition]:
    """Every partition the worker group's agents read."""
    counts = {topics.name(t): TOPICS_BY_ID[t].partitions for t in RAW_INPUTS}
    counts.update({f"{app_id}-{name}": INTERNAL_PARTITIONS[name] for name in INTERNAL_INPUTS})
    return [Partition(topic, p) for topic, count in counts.items() for p in range(count)]


class Drain:
    """The worker group's records not yet committed, per partition."""

    def __init__(self, target: ClusterTarget, topics: TopicSettings, app_id: str) -> None:
        self.lag = GroupLag(target, app_id)
        self.partitions = worker_inputs(topics, app_id)

    def backlog(self) -> dict[Partition, int]:
        """The partitions with records the group has not committed (blocking; raises
        `KafkaException` or `TimeoutError` when the broker does not answer). A topic the
        cluster does not have yet holds nothing (and asking for its offsets would create it on
        a broker that creates topics on demand, with its own partition count)."""
        existing = self.lag.admin.list_topics(timeout=READ_TIMEOUT_S).topics
        partitions = [p for p in self.partitions if p.topic in existing]
        return {p: n for p, n in self.lag.read(partitions).items() if n}
