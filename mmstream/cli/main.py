"""Entry point of the `mmstream` command.

Sub-commands live in their own modules and are imported lazily, so `mmstream --help` is fast and
a sub-command's heavy imports (Faust, confluent-kafka) cost nothing to the others.
"""

from __future__ import annotations

import importlib
import re
import sys
import traceback
from types import TracebackType
from typing import NoReturn

import click

from mmstream.cli.common import EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, exit_codes
from mmstream.core.errors import ConfigurationError, MmstreamError
from mmstream.core.logging import redact
from mmstream.core.settings import KAFKA_PASSTHROUGH_PREFIX

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": ("mmstream.cli.up", "up", "Run the whole pipeline (embedded stack by default)."),
    "registry": ("mmstream.cli.registry", "registry", "Run the embedded schema registry alone."),
    "topics": ("mmstream.cli.topics", "topics", "Create or list the pipeline's topics."),
    "tail": ("mmstream.cli.tail", "tail", "Print a topic's decoded Avro records as JSON lines."),
    "simulate": ("mmstream.cli.simulate", "simulate", "Run the MM API and Predexon simulators."),
    "connect": ("mmstream.cli.connect", "connect", "Run a source connector (mmapi | predexon)."),
    "process": ("mmstream.cli.process", "process", "Run a Faust worker with every agent."),
    "fixtures": ("mmstream.cli.fixture_map", "fixtures", "Manage the fixtureId <-> game_id map."),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, epilog=exit_codes())
@click.version_option(package_name="mmstream")
def cli() -> None:
    """mmstream: MM API and Predexon feeds into Avro Kafka topics, and agents watching them."""


def redacted_excepthook(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    """Print an uncaught exception's traceback with every secret redacted."""
    sys.stderr.write(redact("".join(traceback.format_exception(kind, error, trace))))


def main() -> None:
    """Run the CLI, turning project errors into one clear line and a non-zero exit."""
    sys.excepthook = redacted_excepthook
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigurationError as exc:
        fail(f"configuration error: {exc}", EXIT_CONFIG)
    except MmstreamError as exc:
        fail(str(exc), EXIT_FAILURE)
    except Exception as exc:
        kafka_error = kafka_client_error(exc)
        if kafka_error is None:
            raise
        fail(*kafka_error)


def fail(message: str, code: int) -> NoReturn:
    click.echo(redact(f"mmstream: {message}"), err=True)
    sys.exit(code)


def kafka_client_error(exc: Exception) -> tuple[str, int] | None:
    """A Kafka client's error as a message and exit code: a property librdkafka rejects is a bad
    `MMSTREAM_KAFKA_<PROPERTY>` setting (2); an unreachable cluster is a failure (1)."""
    if type(exc).__name__ != "KafkaException" or not exc.args:
        return None
    error = exc.args[0]
    text = error.str() if hasattr(error, "str") else str(error)
    if getattr(error, "name", lambda: "")() == "_INVALID_ARG":
        found = re.search(r'property:? "([^"]+)"', text)
        variable = KAFKA_PASSTHROUGH_PREFIX + (
            found.group(1).upper().replace(".", "_") if found else "<PROPERTY>"
        )
        return f"configuration error: {variable}: {text}", EXIT_CONFIG
    return f"Kafka: {text} (bootstrap servers: MMSTREAM_BOOTSTRAP_SERVERS)", EXIT_FAILURE
