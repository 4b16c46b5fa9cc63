"""The connectors' one retry policy (`connectors/backoff.py`): pure functions, no network."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from connectors.backoff import (
    Backoff,
    ceiling,
    full_jitter,
    is_auth_refused,
    is_retriable,
    parse_retry_after,
)
from connectors.settings import MmapiSettings, PredexonSettings
from mmstream.core.settings import load_settings


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_rate_limits_timeouts_and_server_errors_are_retried(status: int) -> None:
    assert is_retriable(status)


@pytest.mark.parametrize("status", [200, 301, 400, 401, 403, 404, 405, 410, 422, 501, 505])
def test_answers_that_would_repeat_are_not_retried(status: int) -> None:
    assert not is_retriable(status)


def test_a_refused_key_is_told_apart() -> None:
    assert is_auth_refused(401) and is_auth_refused(403) and not is_auth_refused(404)


def test_the_ceiling_doubles_up_to_the_cap() -> None:
    assert [ceiling(a, 0.5, 8.0) for a in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert ceiling(10_000, 0.5, 8.0) == 8.0, "no overflow on a long outage"


def test_full_jitter_spreads_over_the_whole_interval() -> None:
    rng = random.Random(7)
    delays = [full_jitter(3, 0.5, 8.0, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert min(delays) < 0.1 and max(delays) > 3.9, "from (almost) zero to the ceiling"
    assert len({round(d, 9) for d in delays}) == len(delays), "no two alike"


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = Backoff(base_s=0.5, cap_s=8.0)
    rng = random.Random(1)
    runs = [[policy.delay(a, rng=rng) for a in range(10)] for _ in range(200)]
    assert all(0.0 <= d <= 8.0 for run in runs for d in run)
    assert all(run[0] <= 0.5 for run in runs)
    assert max(run[9] for run in runs) > 7.0, "later retries may wait up to the cap"


def test_connection_limit_backs_off_longer() -> None:
    policy = Backoff(base_s=0.5, cap_s=8.0)
    rng = random.Random(2)
    delays = [policy.delay(0, slow=True, rng=rng) for _ in range(200)]
    assert min(delays) >= 2.5 and max(delays) <= 5.0, "upper half of ten times the ceiling"


def test_retry_after_is_a_floor_bounded_by_the_slow_ceiling() -> None:
    policy = Backoff(base_s=0.5, cap_s=8.0)
    rng = random.Random(3)
    assert all(policy.delay(0, retry_after_s=12.0, rng=rng) == 12.0 for _ in range(50))
    assert policy.delay(0, retry_after_s=86_400.0, rng=rng) == 80.0, "never parked for hours"
    assert policy.delay(5, retry_after_s=0.0, rng=rng) <= 8.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Tue, 01 Dec 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("Tue, 01 Dec 2026 08:00:00 GMT", now) == 0.0, "a past date: now"
    assert parse_retry_after("-3", now) == 0.0
    for unreadable in (None, "", "soon", "Tue, 99 Foo"):
        assert parse_retry_after(unreadable, now) is None


def test_a_healthy_session_resets_the_backoff() -> None:
    policy = Backoff(base_s=0.5, cap_s=8.0)
    assert policy.attempt_after(5, streamed_s=8.0) == 0, "streamed one cap interval"
    assert policy.attempt_after(5, streamed_s=7.9) == 5, "a short session keeps growing"
    assert Backoff(0.5, 8.0, reset_after_s=2.0).attempt_after(5, streamed_s=2.0) == 0


def test_rate_budgets_and_attempts_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(PredexonSettings).rest_requests_per_min == 600
    monkeypatch.setenv("PREDEXON_REST_REQUESTS_PER_MIN", "120")
    monkeypatch.setenv("MMAPI_REST_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("MMAPI_BACKOFF_RESET_S", "4")
    assert load_settings(PredexonSettings).rest_requests_per_min == 120
    mmapi = load_settings(MmapiSettings)
    assert mmapi.rest_max_attempts == 3 and mmapi.backoff().reset_after_s == 4.0
