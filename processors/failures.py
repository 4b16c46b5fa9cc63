"""The processors' failure path: no record stops an agent, and a dead agent is a dead worker.

Per record (Kafka Streams' deserialization / processing exception handlers, Kafka Connect's
`errors.tolerance=all` with a dead-letter queue): agents read raw bytes and decode them in
`decoded()` through the one decoder; a record that does not decode, or whose processing raises
inside `guard()`, goes to the processors' dead-letter topic with its original key and bytes and
the `__connect.errors.*` headers, is counted (`mmstream_processor_dead_letters_total{agent,
reason}`), logged once with topic/partition/offset, and the agent goes on (its offset is
committed with the rest of its batch). The same for a key whose per-key step raises after a
batch (`processors/batch.py`): every record of that key in the batch is dead-lettered.

Per task (Kafka Streams' `SHUTDOWN_CLIENT`): any other exception that ends an agent, a timer or
a worker task makes the process exit with `EXIT_TASK_DIED`, so that its supervisor restarts it.
The worker first flushes what it has queued (derived records and table changelog writes of the
records it processed: sent together, so that a replay neither repeats nor misses an output),
then exits without a graceful Faust stop, which would commit the offsets of the batch the agent
died in (a `take()` batch is acked in a `finally`) and so lose it. Nothing more is committed:
the restarted worker reads again from the last commit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, NoReturn

import faust
from faust.types import EventT

from mmstream.core.deadletter import (
    STAGE_TASK_PUT,
    STAGE_VALUE_CONVERTER,
    Origin,
    error_headers,
    qualified_name,
)
from mmstream.core.errors import MmstreamError
from mmstream.core.kafka.faust_rebalance import between_rebalances
from processors.liveness import Liveness
from processors.metrics import ProcessorMetrics
from processors.sink import Sink, SinkError
from schemas.decoder import DecodeError, Decoder, RegistryUnavailable

log = logging.getLogger(__name__)
EXIT_TASK_DIED = 70  # EX_SOFTWARE: not a configuration error (2), so a supervisor restarts it
FLUSH_BEFORE_EXIT_S = 10.0
PROCESSING_ERROR = "processing_error"
DECODER_CLASS = "schemas.decoder.Decoder"
FINISH_FAULT_PREFIX = "finish:"
# errors of the mechanism, not of a record: never dead-lettered, they end the worker
MECHANISM_ERRORS = (SinkError, RegistryUnavailable)
_exiting: list[BaseException] = []  # set once `die` has begun


class InjectedFault(MmstreamError):
    """Raised on purpose for a record whose key is in `MMSTREAM_PROCESSOR_TEST_FAIL_KEYS`
    (fault-injection tests only)."""


async def die(app: faust.App, what: str, exc: BaseException) -> NoReturn:
    """Log why, flush what is queued, end the process with `EXIT_TASK_DIED` (module doc)."""
    _exiting.append(exc)
    log.critical(
        "%s died (%s: %s); the worker exits with %d so that its supervisor restarts it",
        what,
        qualified_name(exc),
        exc,
        EXIT_TASK_DIED,
        exc_info=exc,
    )
    refuse_commits(app)
    try:
        await asyncio.wait_for(app.producer.flush(), FLUSH_BEFORE_EXIT_S)
    except Exception as flush_error:  # exiting anyway: nothing is committed past the last commit
        log.error("could not flush before exiting: %r", flush_error)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_TASK_DIED)


async def die_once(app: faust.App, what: str, exc: BaseException) -> None:
    """`die`, unless the worker is exiting already (its flush reports the same failure)."""
    if not _exiting:
        await die(app, what, exc)


def refuse_commits(app: faust.App) -> None:
    """No offset is committed any more (while the flush lets the event loop run, the commit
    timer or a closing `take()` buffer must not commit the batch the agent died in)."""

    async def refuse(offsets: Any) -> bool:
        return False

    app.consumer._commit = refuse  # type: ignore[attr-defined]  # the one low-level commit


def supervised(
    app: faust.App, what: str, fun: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    """`fun` (a timer's or task's body), with any exception ending the worker."""

    @functools.wraps(fun)
    async def run() -> None:
        try:
            await fun()
        except Exception as exc:
            await die(app, what, exc)

    return run


class FaultyRecord(dict[str, Any]):
    """A decoded record whose every read raises `InjectedFault`: what the agent's logic does
    with it fails inside the agent, as a bug triggered by one record would."""

    def __getitem__(self, key: str) -> Any:
        raise InjectedFault(f"fault injected on reading {key!r}")

    def get(self, key: str, default: Any = None) -> Any:
        raise InjectedFault(f"fault injected on reading {key!r}")


class RecordGuard:
    """Context of one record's processing (see `FailurePath.guard`)."""

    def __init__(self, path: FailurePath, agent: str, event: EventT[Any]) -> None:
        self.path = path
        self.agent = agent
        self.event = event

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> bool:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, MECHANISM_ERRORS):
            return False
        self.path.dead_letter(self.agent, self.event, exc, STAGE_TASK_PUT, PROCESSING_ERROR)
        return True


class FailurePath:
    """Decoding, dead-lettering and guarding of the agents' records, shared by every agent."""

    def __init__(
        self,
        app: faust.App,
        decoder: Decoder,
        metrics: ProcessorMetrics,
        liveness: Liveness,
        dead_letter_topic: str,
        sink: Sink,
        fail_keys: Iterable[str] = (),
    ) -> None:
        """`fail_keys` (tests only): record keys whose records raise when read, and, prefixed
        with `finish:`, keys whose per-key step raises after a batch."""
        self.app = app
        self.decoder = decoder
        self.metrics = metrics
        self.liveness = liveness
        self.topic = dead_letter_topic
        self.sink = sink
        keys = [k for k in fail_keys if k]
        self.fail_keys = {k.encode() for k in keys if not k.startswith(FINISH_FAULT_PREFIX)}
        self.fail_finish_keys = {
            k.removeprefix(FINISH_FAULT_PREFIX).encode()
            for k in keys
            if k.startswith(FINISH_FAULT_PREFIX)
        }

    def agent(
        self, channel: faust.ChannelT[Any], name: str, label: str
    ) -> Callable[[Callable[..., Any]], Any]:
        """`app.agent(channel, name=name)` whose death ends the worker; `label` is the agent's
        name in metrics, its inputs are followed for lag."""
        self.liveness.follow(label, channel)

        async def on_error(agent: Any, exc: BaseException) -> None:
            await die(self.app, f"agent {name}", exc)

        def register(fun: Callable[..., Any]) -> Any:
            agent = self.app.agent(channel, name=name)(fun)
            # the app passes its own handler (the consumer's, which only logs; Faust's agent
            # supervisor would then restart the actor on a stream that may be dead)
            agent._on_error = on_error  # type: ignore[attr-defined]
            return agent

        return register

    def timer(
        self, interval: float, during_rebalance: bool = False
    ) -> Callable[[Callable[[], Awaitable[None]]], Any]:
        """`app.timer(interval)` whose death ends the worker. Unless `during_rebalance`, a tick
        that falls while the group rebalances is skipped (`between_rebalances`)."""

        def register(fun: Callable[[], Awaitable[None]]) -> Any:
            body = fun if during_rebalance else between_rebalances(self.app, fun)
            return self.app.timer(interval)(supervised(self.app, f"timer {fun.__name__}", body))

        return register

    def decoded(self, agent: str, events: Iterable[EventT[Any]]) -> Iterator[Any]:
        """The events whose value decodes (their `value` replaced by the decoded record); the
        others are dead-lettered. Marks the agent as having processed when exhausted."""
        for event in events:
            try:
                event.value = self.decoder.decode(event.message.value or b"", event.message.topic)
            except DecodeError as exc:
                self.dead_letter(agent, event, exc, STAGE_VALUE_CONVERTER, exc.reason)
                continue
            if event.message.key in self.fail_keys:
                event.value = FaultyRecord(event.value)
            yield event
        self.liveness.processed(agent)

    def guard(self, agent: str, event: EventT[Any]) -> RecordGuard:
        """Processing of one record: what it raises dead-letters the record, and the agent goes
        on with the next."""
        return RecordGuard(self, agent, event)

    def dead_letter(
        self, agent: str, event: EventT[Any], exc: BaseException, stage: str, reason: str
    ) -> None:
        message = event.message
        origin = Origin(message.topic, message.partition, message.offset)
        self.send(agent, origin, message.key, message.value, exc, stage, reason)

    def dead_letter_key(
        self, agent: str, key: bytes, events: list[EventT[Any]], exc: BaseException
    ) -> None:
        """Every record of `key` in a batch whose per-key step raised."""
        log.warning(
            "the per-key step of %r (agent %s) raised: its %d records of the batch go to "
            "the dead-letter topic",
            key,
            agent,
            len(events),
        )
        for event in events:
            self.dead_letter(agent, event, exc, STAGE_TASK_PUT, PROCESSING_ERROR)

    def key_failed(self, agent: str, key: bytes, exc: BaseException) -> None:
        """A timer's per-key step raised: no record to dead-letter; the key keeps its state."""
        self.metrics.key_failures.labels(agent).inc()
        log.error(
            "agent %s: the timed step of key %r raised, its state is kept: %s: %s",
            agent,
            key,
            qualified_name(exc),
            exc,
            exc_info=exc,
        )

    def send(
        self,
        agent: str,
        origin: Origin,
        key: bytes | None,
        value: bytes | None,
        exc: BaseException,
        stage: str,
        reason: str,
    ) -> None:
        """Queue one dead letter (original key and bytes, Connect headers); count and log it."""
        class_name = DECODER_CLASS if stage == STAGE_VALUE_CONVERTER else f"processors.{agent}"
        headers = error_headers(
            origin, exc, connector_name=agent, stage=stage, class_name=class_name
        )
        self.sink.produce(self.topic, key, value, headers)
        self.metrics.dead_letters.labels(agent, reason).inc()
        log.warning(
            "dead-lettered %s[%d]@%d (agent %s, %s): %s: %s",
            origin.topic,
            origin.partition,
            origin.offset,
            agent,
            reason,
            qualified_name(exc),
            exc,
        )
