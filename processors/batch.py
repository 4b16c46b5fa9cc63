"""The agents' hot path: one input batch folded per record, finished per key, written once.

1. Per record, `fold(state, event) -> (state, outputs)` on a copy of the key's state (the
   table's own copy is untouched until the key is finished; an agent whose state has a known
   shape gives its own `copy`, cheaper than the generic deep copy). An exception dead-letters the
   record, and the key's copy is rebuilt from its state before the batch with the key's other
   records, so the state is what it would be had the record never arrived.
2. Per key, `finish(key, state) -> (stored, outputs)`: what to store (`KEEP`: nothing new,
   None: delete the key) and the key's derived records. An exception in it — or in encoding
   its outputs — dead-letters every record of that key in the batch and keeps the key's
   state as it was before the batch; the other keys go on.
3. The finished keys' states go into the table's store directly (no changelog send per set),
   one changelog record per changed key, and the encoded outputs, all queued on the sink: no
   await per record. Faust acks the batch's offsets after the agent's loop body; the sink is
   flushed before Faust commits them (`processors/sink.py`).

Only errors of the mechanism (`MECHANISM_ERRORS`: the producer cannot deliver, the registry
cannot be asked) leave this path: they end the agent, hence the worker (exit 70).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterable
from typing import Any, Final

from faust.types import EventT, TableT

from mmstream.core.deadletter import STAGE_TASK_PUT
from mmstream.core.kafka.faust_rebalance import index_direct_write
from processors.common import Output
from processors.failures import MECHANISM_ERRORS, PROCESSING_ERROR, FailurePath, InjectedFault
from processors.outputs import Encoded
from processors.sink import Sink

log = logging.getLogger(__name__)
KEEP: Final = "__keep__"  # `finish` stores nothing new for the key
Fold = Callable[[Any, EventT[Any]], tuple[Any, list[Output]]]
Finish = Callable[[bytes, Any], tuple[Any, list[Output]]]
Encode = Callable[[list[Output]], Encoded]
Copy = Callable[[Any], Any]


def clone(state: Any) -> Any:
    """A deep copy of a JSON-able state (pickle: the fastest deep copy of plain containers)."""
    return pickle.loads(pickle.dumps(state, pickle.HIGHEST_PROTOCOL))


class StateTable:
    """A Faust table (memory store) written once per key per batch: each `put` goes to the
    store at once and to the changelog at `write_changelog()`, in Faust's changelog format."""

    def __init__(self, table: TableT[bytes, Any], sink: Sink) -> None:
        self.table = table
        self.sink = sink
        self.changed: dict[bytes, Any] = {}

    @property
    def store(self) -> dict[bytes, Any]:
        data: dict[bytes, Any] = self.table.data.data  # type: ignore[attr-defined]  # memory://
        return data

    def get(self, key: bytes) -> Any:
        return self.store.get(key)

    def put(self, key: bytes, state: Any) -> None:
        """Store `state` (None deletes the key); the memory store learns the key's partition,
        as fix `forget_moved_keys` has it learn through `send_changelog`, so that the key goes
        when its partition moves to another worker."""
        if state is None:
            self.store.pop(key, None)
            index_direct_write(self.table, key, deleted=True)
        else:
            self.store[key] = state
            index_direct_write(self.table, key, deleted=False)
        self.changed[key] = state

    def write_changelog(self) -> None:
        for key, state in self.changed.items():
            self.sink.changelog(self.table, key, state)
        self.changed.clear()

    def __len__(self) -> int:
        return len(self.store)


class KeyWork:
    """One key's part of a batch (a plain class with slots: one is built per key per batch)."""

    __slots__ = ("before", "events", "outputs", "state")

    def __init__(self, before: Any, state: Any) -> None:
        self.before = before  # the stored state when the batch first touched the key (kept)
        self.state = state
        self.events: list[EventT[Any]] = []
        self.outputs: list[Output] = []


class BatchRunner:
    """The mechanism above, shared by every agent; `table` None for a stateless agent."""

    def __init__(
        self,
        agent: str,
        failures: FailurePath,
        table: StateTable | None,
        encode: Encode,
        send: Callable[[Encoded], None],
        copy: Copy = clone,
    ) -> None:
        self.agent = agent
        self.failures = failures
        self.table = table
        self.encode = encode
        self.send = send
        self.copy = copy

    def stored(self, key: bytes) -> Any:
        return None if self.table is None else self.table.get(key)

    def fold(
        self,
        events: Iterable[EventT[Any]],
        fold: Fold,
        key_of: Callable[[EventT[Any]], bytes] | None = None,
    ) -> dict[bytes, KeyWork]:
        """Phase 1 over decoded events (see module doc); the keys' work, in arrival order.
        A record's key is its Kafka key, or `key_of(event)`."""
        work: dict[bytes, KeyWork] = {}
        for event in events:
            key: bytes = event.key if key_of is None else key_of(event)  # type: ignore[assignment]
            item = work.get(key)
            if item is None:
                before = self.stored(key)
                item = work[key] = KeyWork(before, None if before is None else self.copy(before))
            try:
                item.state, outputs = fold(item.state, event)
            except MECHANISM_ERRORS:
                raise
            except Exception as exc:
                self.failures.dead_letter(self.agent, event, exc, STAGE_TASK_PUT, PROCESSING_ERROR)
                self.refold(item, fold)
                continue
            item.events.append(event)
            item.outputs += outputs
        return work

    def refold(self, item: KeyWork, fold: Fold) -> None:
        """The key's state and outputs again from before the batch, without the failed record."""
        state = None if item.before is None else self.copy(item.before)
        outputs: list[Output] = []
        for event in item.events:
            state, more = fold(state, event)
            outputs += more
        item.state, item.outputs = state, outputs

    def finish(self, work: dict[bytes, KeyWork], finish: Finish, extra: list[Output]) -> None:
        """Phase 2 and 3: finish each key, then store, changelog and send what succeeded."""
        records = self.encode(extra)
        for key, item in work.items():
            if not item.events:  # every record of the key was dead-lettered
                continue
            try:
                stored, outputs = finish(key, item.state)
                if key in self.failures.fail_finish_keys:
                    raise InjectedFault(f"fault injected in the per-key step of {key!r}")
                encoded = self.encode(item.outputs + outputs)
            except MECHANISM_ERRORS:
                raise
            except Exception as exc:
                self.failures.dead_letter_key(self.agent, key, item.events, exc)
                continue
            if stored is not KEEP and self.table is not None:
                self.table.put(key, stored)
            records += encoded
        self.write(records)

    def sweep(
        self, keys: Iterable[bytes], finish: Finish, extra: list[Output], in_place: bool = False
    ) -> None:
        """`finish` for stored keys without records (deadlines, ticks); a key whose step
        raises is logged and counted, and keeps its state. `in_place`: on the stored state
        itself, not a copy (what `finish` changes stays in memory even with `KEEP`, without a
        changelog record; a failed step may leave it half-changed)."""
        records = self.encode(extra)
        for key in keys:
            state = self.stored(key)
            if state is None:
                continue  # its partition moved to another worker
            try:
                stored, outputs = finish(key, state if in_place else self.copy(state))
                encoded = self.encode(outputs)
            except MECHANISM_ERRORS:
                raise
            except Exception as exc:
                self.failures.key_failed(self.agent, key, exc)
                continue
            if stored is not KEEP and self.table is not None:
                self.table.put(key, stored)
            records += encoded
        self.write(records)

    def write(self, records: Encoded) -> None:
        if self.table is not None:
            self.table.write_changelog()
        self.send(records)
