"""`python -m mmstream.registry --host H --port P --data-dir D`: serve until SIGTERM / SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from mmstream.core.logging import configure_logging
from mmstream.registry.api import create_app
from mmstream.registry.store import SchemaStore

log = logging.getLogger("mmstream.registry")


async def serve(host: str, port: int, data_dir: Path) -> None:
    store = SchemaStore(data_dir)
    runner = web.AppRunner(create_app(store), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("schema registry listening on http://%s:%d (log %s)", host, port, store.path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    store.close()
    log.info("schema registry stopped")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mmstream.registry", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--data-dir", type=Path, default=Path("var/registry"))
    args = parser.parse_args()
    configure_logging()
    asyncio.run(serve(args.host, args.port, args.data_dir))


if __name__ == "__main__":
    main()
