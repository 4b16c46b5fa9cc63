"""Waiting on a consumer group's membership through the admin API (no log scraping)."""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient


def owners(admin: AdminClient, group: str) -> tuple[int, int]:
    """(members, partitions assigned) of a stable `group`, or (0, 0) while it rebalances (or
    before its coordinator is known)."""
    try:
        description = admin.describe_consumer_groups([group])[group].result(10)
    except KafkaException:
        return 0, 0
    if description.state != ConsumerGroupState.STABLE:
        return 0, 0
    assigned = sum(len(m.assignment.topic_partitions) for m in description.members)
    return len(description.members), assigned


async def wait_owners(admin: AdminClient, group: str, members: int, deadline_s: float) -> int:
    """Wait until `group` is stable with `members` members; the partitions they own."""
    end = time.monotonic() + deadline_s
    while True:
        found, assigned = await asyncio.to_thread(owners, admin, group)
        if found == members:
            return assigned
        assert time.monotonic() < end, f"{group}: not {members} stable members in {deadline_s}s"
        await asyncio.sleep(0.1)
