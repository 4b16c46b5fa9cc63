"""`mmstream process`: a Faust worker running every agent."""

from __future__ import annotations

import click

from mmstream.cli.common import exit_codes, override_env, setup_logging


@click.command(
    epilog=exit_codes(
        "stopped cleanly (SIGTERM / Ctrl-C)",
        code_70="an agent, a timer or the fixture-map reader died (restart the worker)",
    )
)
@click.option("--app-id", help="Faust app id = consumer group (MMSTREAM_PROCESSOR_APP_ID).")
@click.option(
    "--metrics-port",
    type=int,
    help="Port of /metrics, /healthz, /readyz (MMSTREAM_PROCESSOR_METRICS_PORT).",
)
def process(app_id: str | None, metrics_port: int | None) -> None:
    """Run a processor worker; start several with one app id to share the partitions."""
    settings = setup_logging()
    override_env("MMSTREAM_PROCESSOR_", app_id=app_id, metrics_port=metrics_port)
    from processors.worker import run_worker

    run_worker(settings.log_level.lower())
