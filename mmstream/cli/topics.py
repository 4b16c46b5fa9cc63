"""`mmstream topics create|list`: the pipeline's topics with their partitions and configs."""

from __future__ import annotations

import click

from mmstream.cli.common import exit_codes, setup_logging


@click.group(epilog=exit_codes())
def topics() -> None:
    """Create or list the pipeline's topics (names from MMSTREAM_TOPIC_*)."""


@topics.command("create", epilog=exit_codes("every topic exists (and schemas registered)"))
@click.option("--register-schemas", is_flag=True, help="Also register every value schema.")
def create(register_schemas: bool) -> None:
    """Create every pipeline topic that does not exist yet (idempotent)."""
    setup_logging()
    from mmstream.core.kafka.admin import create_topics, require_listening
    from mmstream.core.runtime import resolve_runtime

    runtime = resolve_runtime()
    require_listening(runtime.target)
    created = create_topics(runtime.target, runtime.topics)
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or 'none (all existed)'}")
    if register_schemas:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        from schemas.serde import AvroSerde

        serde = AvroSerde(SchemaRegistryClient(runtime.registry_config()), runtime.topics)
        for subject, schema_id in serde.register_all().items():
            click.echo(f"registered {subject} (id {schema_id})")


@topics.command("list", epilog=exit_codes())
def list_topics() -> None:
    """Show each pipeline topic: name, partitions, configs, and whether it exists."""
    setup_logging()
    from mmstream.core.kafka.admin import describe_topics, require_listening
    from mmstream.core.runtime import resolve_runtime
    from mmstream.core.topics import TOPICS

    runtime = resolve_runtime()
    require_listening(runtime.target)
    states = describe_topics(runtime.target, runtime.topics)
    click.echo(f"{'topic':32} {'partitions':>10}  {'key':12} config")
    for spec, state in zip(TOPICS, states, strict=True):
        partitions = str(state.partitions) if state.exists else "missing"
        config = ",".join(f"{k}={v}" for k, v in spec.config.items()) or "-"
        click.echo(f"{state.name:32} {partitions:>10}  {spec.key:12} {config}")
