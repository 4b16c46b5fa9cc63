"""Running a Faust worker with every agent (`mmstream process`)."""

from __future__ import annotations

import logging

import faust

from mmstream.core.heap import freeze_startup_heap
from mmstream.core.kafka.admin import check_co_partitioning, check_internal_partitions
from mmstream.core.runtime import Runtime, resolve_runtime
from mmstream.core.settings import load_settings, writable_dir
from processors.app import Pipeline, create_pipeline
from processors.emergency.agent import register as register_emergency
from processors.health import worker_health
from processors.hedge.agent import register as register_hedge
from processors.scores.agent import register as register_scores
from processors.settings import ProcessorSettings

log = logging.getLogger(__name__)


def build_app(settings: ProcessorSettings, runtime: Runtime) -> Pipeline:
    """The app with every agent registered."""
    pipeline = create_pipeline(settings, runtime)
    register_hedge(pipeline)
    register_scores(pipeline)
    register_emergency(pipeline)
    return pipeline


def run_worker(log_level: str = "info") -> None:
    """Start a worker (several workers with the same app id share the partitions)."""
    settings = load_settings(ProcessorSettings)
    writable_dir(settings.data_dir, "MMSTREAM_DATA_DIR")
    runtime = resolve_runtime()
    pipeline = build_app(settings, runtime)  # checks the pinned Faust versions first
    check_co_partitioning(runtime.target, runtime.topics)
    check_internal_partitions(runtime.target, settings.app_id)
    pipeline.serde.register_all()
    health = worker_health(pipeline)
    if settings.metrics_port:
        pipeline.metrics.serve(settings.metrics_port, health)
    worker = faust.Worker(pipeline.app, loglevel=log_level, quiet=True)
    # Faust's start-up spinner sets the root logger to DEBUG at WARNING and above (so it can
    # spin on every record): every aiokafka debug call then builds a LogRecord, 10% of the
    # worker's CPU. A service has no terminal spinner to feed.
    worker.spinner = None
    freeze_startup_heap()  # the app, its agents and every module: out of full collections
    worker.execute_from_commandline()
