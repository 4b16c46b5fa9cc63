"""Connector throughput: messages/s from the MM API simulator into Kafka by one connector
process, against the bare receive rate of a plain `websockets` client that only parses JSON
(the ceiling), in the same run; and the connector's peak RSS.

Usage: bench/bench_connectors.py [RATE] [SECONDS]   (defaults 5000 msg/s for 8 s)
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets

from bench.common import embedded_stack, peak_rss_mb, stop_child, table
from mmstream.simulators import ScenarioConfig, run_simulators
from mmstream.simulators.scenario import DEFAULT_CLIENT
from mmstream.view.sources import scrape, total

RATE = float(sys.argv[1]) if len(sys.argv) > 1 else 5_000.0
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0


async def bare_client(url: str, key: str, done: asyncio.Event) -> tuple[int, float]:
    """Count broadcasts a JSON-parsing client receives until the scenario is done."""
    count, first, last = 0, 0.0, 0.0
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "apiKey": key,
                    "channels": ["orders", "bets", "accounts", "scores", "emergency"],
                }
            )
        )
        await ws.recv()
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), 2.0 if done.is_set() else 30.0)
            except TimeoutError:
                break
            if json.loads(raw).get("type") == "broadcast":
                count += 1
                last = time.monotonic()
                first = first or last
    return count, max(last - first, 1e-9)


async def main() -> None:
    with embedded_stack() as stack:
        config = ScenarioConfig(seed=1, rate=RATE, duration_s=SECONDS, heartbeat_interval_s=60)
        async with run_simulators(config, autoplay=False) as sims:
            expected = sum(
                1 for s in sims.steps if s.feed == "mmapi" and (s.client in (None, DEFAULT_CLIENT))
            )
            port = 19_000 + os.getpid() % 1000
            env = {
                **os.environ,
                "MMSTREAM_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
                "MMSTREAM_SCHEMA_REGISTRY_URL": stack.registry_url,
                "MMSTREAM_BROKER_PROFILE": "embedded",
                "MMAPI_API_KEY": sims.mmapi_api_key,
                "MMAPI_WS_URL": sims.mmapi_ws_url,
                "MMAPI_REST_URL": sims.mmapi_rest_url,
                "MMAPI_METRICS_PORT": str(port),
                "MMSTREAM_LOG_LEVEL": "WARNING",
            }
            connector = subprocess.Popen(
                [sys.executable, "-m", "mmstream.cli", "connect", "mmapi"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            atexit.register(stop_child, connector)  # never leave it behind, even on error
            url = f"http://127.0.0.1:{port}/metrics"
            while (samples := scrape(url)) is None or not any(
                labels.get("state") == "streaming" and v == 1
                for labels, v in samples.get("mmstream_connector_session_state", [])
            ):
                await asyncio.sleep(0.1)
            done = asyncio.Event()
            bare = asyncio.create_task(bare_client(sims.mmapi_ws_url, sims.mmapi_api_key, done))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            sims.play()
            await sims.wait_finished()
            done.set()
            published, progress_at = 0.0, time.monotonic()
            while published < expected and time.monotonic() - progress_at < 5:
                samples = scrape(url) or {}
                now_published = total(samples, "mmstream_connector_records_published_total")
                if now_published > published:
                    published, progress_at = now_published, time.monotonic()
                await asyncio.sleep(0.05)
            elapsed = progress_at - started
            samples = scrape(url) or {}
            reconnects = total(samples, "mmstream_connector_reconnects_total")
            backfilled = total(samples, "mmstream_connector_resync_records_total")
            rss = peak_rss_mb(connector.pid)
            connector.terminate()
            connector.wait(60)
            received, bare_seconds = await bare
    connector_rate = published / elapsed
    bare_rate = received / bare_seconds
    print(
        table(
            [
                (
                    "offered rate (simulator, both clients)",
                    f"{RATE:,.0f} msg/s for {SECONDS:.0f} s",
                ),
                ("messages for the connector's client", f"{expected:,}"),
                ("connector: acknowledged by Kafka", f"{published:,.0f} in {elapsed:.1f} s"),
                ("connector throughput into Kafka", f"{connector_rate:,.0f} msg/s"),
                (
                    "bare websockets + json.loads client",
                    f"{bare_rate:,.0f} msg/s ({received:,} msgs)",
                ),
                ("ratio connector / bare", f"{connector_rate / bare_rate:.2f}"),
                (
                    "reconnects (server drops a slow consumer) / backfilled",
                    f"{reconnects:.0f} / {backfilled:.0f}",
                ),
                ("connector peak RSS", f"{rss:.0f} MiB"),
            ]
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
