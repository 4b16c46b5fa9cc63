"""The bare Faust baseline of bench/bench_agents.py: one agent iterating events one by one,
decoding each through the one decoder and making one table update per event (Faust's own
changelog send per set), on the same broker with the worker's Faust settings and fixes.

    python bench/faust_bare.py BOOTSTRAP PROFILE REGISTRY_URL EXPECTED TOPIC_ID=NAME...

Prints `events=<n> seconds=<s> cpu=<s>`: from its first event to its EXPECTED-th (wall and
process CPU time), then exits.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faust
from confluent_kafka.schema_registry import SchemaRegistryClient

from mmstream.core.kafka.config import ClusterTarget, faust_settings
from mmstream.core.kafka.faust_fixes import install_faust_fixes
from schemas.decoder import Decoder


def main(
    bootstrap: str, profile: str, registry_url: str, expected: int, topics: dict[str, str]
) -> None:
    """`topics`: name -> topic id of each input (the decoder's reader schema)."""
    target = ClusterTarget.with_profile(bootstrap, profile)
    install_faust_fixes(target)
    app = faust.App(
        f"bench-bare-{uuid.uuid4().hex[:6]}",
        store="memory://",
        web_enabled=False,
        topic_partitions=4,
        datadir=f"/tmp/bench-bare-{os.getpid()}",
        **faust_settings(target),
    )
    decoder = Decoder(SchemaRegistryClient({"url": registry_url}), topics)
    source = app.topic(*topics, key_serializer="raw", value_serializer="raw")
    table = app.Table("bare", default=None, partitions=4, key_type=bytes, use_partitioner=True)
    seen = {"n": 0, "first": 0.0, "cpu": 0.0}

    @app.agent(source)
    async def bare(stream: Any) -> None:
        async for event in stream.events():
            record = decoder.decode(event.message.value or b"", event.message.topic)
            envelope = record["envelope"]
            table[event.key] = {"at": envelope["received_at"], "event": record["event"]}
            seen["n"] += 1
            if seen["n"] == 1:
                seen["first"], seen["cpu"] = time.monotonic(), time.process_time()
            if seen["n"] >= expected:
                elapsed, cpu = time.monotonic() - seen["first"], time.process_time() - seen["cpu"]
                print(f"events={seen['n']} seconds={elapsed:.3f} cpu={cpu:.3f}")
                sys.stdout.flush()
                os._exit(0)

    logging.basicConfig(level=logging.WARNING)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    pairs = (arg.split("=", 1) for arg in sys.argv[5:])
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), {n: i for i, n in pairs})
