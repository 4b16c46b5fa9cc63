"""A worker's liveness and readiness (served by `mmstream.core.health` beside its metrics).

The worker's own timer sets the flags, on the worker's event loop (so the timer beating is also
the liveness signal):
- `partitions`: the consumer group assigned this worker its partitions and no rebalance is under
  way (an empty assignment counts: more workers than partitions is a valid deployment);
- `recovery`: table recovery from the changelogs is done;
- `lag`: the records not yet processed on its partitions (`mmstream_processor_consumer_lag`,
  summed) are at most `MMSTREAM_PROCESSOR_READY_MAX_LAG`.
"""

from __future__ import annotations

from typing import Any, cast

from prometheus_client import CollectorRegistry

from mmstream.core.health import Health
from processors.app import Pipeline

LAG_METRIC = "mmstream_processor_consumer_lag"
CHECK_INTERVAL_S = 1.0


def total_lag(registry: CollectorRegistry) -> float | None:
    """The sum of the consumer-lag gauge over every assigned partition; None before it is set."""
    samples = [
        sample.value
        for family in registry.collect()
        if family.name == LAG_METRIC
        for sample in family.samples
    ]
    return sum(samples) if samples else None


def worker_health(pipeline: Pipeline) -> Health:
    app = pipeline.app
    health = Health(f"worker-{pipeline.settings.app_id}")
    heartbeat = health.heartbeat()
    partitions = health.flag("partitions", "waiting for the group to assign partitions")
    recovery = health.flag("recovery", "tables not recovered yet")
    lag = health.flag("lag", "no lag measured yet")
    max_lag = pipeline.settings.ready_max_lag
    assigned: list[int] = []

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned[:] = [len(args[0] if args else kwargs["assigned"])]

    @app.timer(CHECK_INTERVAL_S)  # type: ignore[untyped-decorator]  # Faust's, untyped
    async def _check() -> None:
        heartbeat.beat()
        if not assigned or app.rebalancing:
            partitions.set(False, "rebalancing" if assigned else "no assignment yet")
        else:
            partitions.set(True, f"{assigned[0]} partitions assigned")
        recovered = cast(Any, app.tables).recovery.completed.is_set()
        done = recovered and not app.in_recovery
        recovery.set(done, "tables recovered" if done else "recovering tables")
        behind = total_lag(pipeline.metrics.registry)
        if behind is None:
            lag.set(assigned == [0], "no partitions" if assigned == [0] else "lag not measured yet")
        else:
            lag.set(behind <= max_lag, f"{behind:.0f} records behind (ready at <= {max_lag})")

    return health
