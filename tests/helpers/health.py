"""Probing a component's `/healthz`, `/readyz` and `/metrics` as an orchestrator would."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

Answer = tuple[int, dict[str, Any]]


def probe_now(url: str, timeout_s: float = 5.0) -> Answer:
    """(HTTP status, JSON body); status 0 while nothing answers on the port."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, {"error": str(error)}


async def wait_answer(
    url: str, accept: Callable[[Answer], bool], deadline_s: float, what: str
) -> Answer:
    """Probe `url` (off the event loop) until `accept(answer)`, failing after `deadline_s`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    answer: Answer = (0, {})
    while loop.time() < end:
        answer = await asyncio.to_thread(probe_now, url)
        if accept(answer):
            return answer
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last answer from {url}: {answer}")


def status_is(status: int) -> Callable[[Answer], bool]:
    return lambda answer: answer[0] == status
