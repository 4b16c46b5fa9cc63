"""`mmstream process`: a Faust worker running every agent."""

from __future__ import annotations

import click

from mmstream.cli.common import override_env, setup_logging


@click.command()
@click.option("--app-id", help="Faust app id = consumer group (MMSTREAM_PROCESSOR_APP_ID).")
@click.option("--metrics-port", type=int, help="Prometheus port (MMSTREAM_PROCESSOR_METRICS_PORT).")
def process(app_id: str | None, metrics_port: int | None) -> None:
    """Run a processor worker; start several with one app id to share the partitions."""
    settings = setup_logging()
    override_env("MMSTREAM_PROCESSOR_", app_id=app_id, metrics_port=metrics_port)
    from processors.worker import run_worker

    run_worker(settings.log_level.lower())
