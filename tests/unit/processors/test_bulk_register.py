"""An agent's topics must reach the bulk intake when the agent is defined: a channel that would
reach it only at its first batch fails there, loudly, instead of losing what was fetched before
(`tests/integration/processors/test_late_reader.py` shows the loss that prevents)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest

from mmstream.core.kafka.faust_intake import install_intake
from processors.bulk import batches, register


def test_a_channel_not_registered_at_definition_fails_at_its_first_batch(tmp_path: Path) -> None:
    app = faust.App("bulk-register-test", store="memory://", datadir=str(tmp_path))
    intake = install_intake(app)
    late = app.topic("late-input", key_serializer="raw", value_serializer="raw")
    early = app.topic("early-input", key_serializer="raw", value_serializer="raw")
    register(intake, early)
    assert "early-input" in intake.queues and "late-input" not in intake.queues

    async def first_batch() -> None:
        # bounded: without the check the first batch would wait for records that never come
        await asyncio.wait_for(batches(app, intake, app.stream(late), 10, 0.01).__anext__(), 5)

    with pytest.raises(RuntimeError, match=r"late-input.*register them when the agent is defined"):
        asyncio.run(first_batch())
