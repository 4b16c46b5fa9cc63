"""The wire form of the scenario's times."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from mmstream.simulators.timeline import At, iso, render


def test_times_render_as_iso_8601_utc_with_milliseconds() -> None:
    rng = random.Random(5)
    for _ in range(20_000):
        anchor, offset = rng.randrange(0, 2_000_000_000_000), rng.randrange(0, 10**7)
        moment = datetime.fromtimestamp((anchor + offset) / 1000, tz=UTC)
        expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        assert iso(anchor, offset) == expected
    assert iso(1_771_149_600_000, 5) == "2026-02-15T10:00:00.005Z"


def test_every_time_of_a_payload_is_rendered_however_deep() -> None:
    payload = {
        "updatedAt": At(1),
        "matchedStake": 5.0,
        "sentData": {"price": 2.1, "at": At(2), "legs": [At(3), {"t": At(4)}, "x"]},
        "tags": ["a", None],
    }
    assert render(payload, 1_771_149_600_000) == {
        "updatedAt": "2026-02-15T10:00:00.001Z",
        "matchedStake": 5.0,
        "sentData": {
            "price": 2.1,
            "at": "2026-02-15T10:00:00.002Z",
            "legs": ["2026-02-15T10:00:00.003Z", {"t": "2026-02-15T10:00:00.004Z"}, "x"],
        },
        "tags": ["a", None],
    }
