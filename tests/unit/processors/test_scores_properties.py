"""Generated score timelines: each provider trailing by its own lag up to the maximum, bursts
of scoring, phantom points (flagged or not) corrected later, stale windows with and without the
flag. Every injected conflict is reported exactly once, every stale window is seen, and
nothing else raises an alert."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.processors.score_timelines import SETTINGS, T0, Shown, replay

MAX_LAG = int(SETTINGS.max_lag_s * 1000)
GRACE = int(SETTINGS.conflict_grace_s * 1000)
PROVIDERS = ("mmapi", "predexon")
QUIET = MAX_LAG + 1_000  # both providers have shown every change by then


@dataclass
class World:
    lags: dict[str, int]
    records: list[Shown] = field(default_factory=list)
    home: int = 0
    away: int = 0
    t: int = 0  # true time of the world
    shown_at: dict[str, int] = field(default_factory=lambda: {p: 0 for p in PROVIDERS})
    silent: dict[str, bool] = field(default_factory=lambda: {p: False for p in PROVIDERS})
    conflicts: list[tuple[int, int]] = field(default_factory=list)  # phantom shown / withdrawn
    stale: list[tuple[str, int, int]] = field(default_factory=list)  # provider, from, to

    def show(self, provider: str, at: int, **flags: bool) -> int:
        at = max(at, self.shown_at[provider] + 1)  # a provider's records keep their order
        self.shown_at[provider] = at
        self.records.append(Shown(at, provider, self.home, self.away, **flags))
        return at

    def score(self, draw: st.DrawFn, skip: dict[str, bool] | None = None) -> dict[str, int]:
        """A true change now, shown by each provider after its lag (and a little jitter)."""
        if draw(st.booleans()):
            self.home += 1
        else:
            self.away += 1
        shown = {}
        for provider in PROVIDERS:
            if self.silent[provider] or (skip or {}).get(provider):
                continue
            jitter = draw(st.integers(0, 300))
            shown[provider] = self.show(provider, self.t + self.lags[provider] + jitter)
        return shown


def goal(world: World, draw: st.DrawFn) -> None:
    world.t += draw(st.integers(500, 8_000))
    world.score(draw)


def burst(world: World, draw: st.DrawFn) -> None:
    """Several scores in quick succession; a provider may skip the intermediate ones."""
    n = draw(st.integers(2, 4))
    skips = {p: draw(st.booleans()) for p in PROVIDERS}
    world.t += draw(st.integers(500, 3_000))
    for index in range(n):
        world.t += draw(st.integers(50, 300))
        world.score(draw, {p: skips[p] and index < n - 1 for p in PROVIDERS})


def phantom(world: World, draw: st.DrawFn) -> None:
    """One provider shows a score that never happened, then corrects it (flagged by Predexon's
    own reliability.conflict, or not); the other provider never shows it."""
    provider = draw(st.sampled_from(PROVIDERS))
    flagged = provider == "predexon" and draw(st.booleans())
    world.t += QUIET
    h, a = world.home, world.away
    shapes = [(h + 1, a)] + ([(h + 1, a - 1)] if a else []) + ([(h - 1, a + 1)] if h else [])
    wrong = draw(st.sampled_from(shapes))
    duration = draw(st.integers(GRACE + 700, MAX_LAG - 1_500))
    start = world.shown_at[provider] + 1 if world.shown_at[provider] > world.t else world.t
    world.home, world.away = wrong
    start = world.show(provider, start, conflict=flagged)
    world.home, world.away = h, a
    end = world.show(provider, start + duration)
    world.conflicts.append((start, end))
    world.t = end + 1_000


def stale(world: World, draw: st.DrawFn) -> None:
    """A provider stops updating while the other scores: flagged (Predexon's reliability.stale,
    any length) or just silent (long enough that lag cannot explain it)."""
    provider = draw(st.sampled_from(PROVIDERS))
    flagged = provider == "predexon" and draw(st.booleans())
    world.t += QUIET
    begin = world.show(provider, world.t, stale=True) if flagged else world.t
    world.silent[provider] = True
    world.t += 500
    shown = world.score(draw)
    for _ in range(draw(st.integers(0, 2))):
        world.t += draw(st.integers(300, 3_000))
        shown = world.score(draw)
    peer = next(p for p in PROVIDERS if p != provider)
    last_news = shown[peer]
    until = last_news + (draw(st.integers(500, 4_000)) if flagged else MAX_LAG + 2_000)
    world.silent[provider] = False
    end = world.show(provider, until)
    world.stale.append((provider, begin, end))
    world.t = end + 1_000


@st.composite
def worlds(draw: st.DrawFn) -> World:
    lags = {p: draw(st.integers(0, MAX_LAG - 1_000)) for p in PROVIDERS}
    world = World(lags)
    for provider in PROVIDERS:
        world.show(provider, lags[provider])  # 0-0 before the start
    blocks = draw(
        st.lists(st.sampled_from((goal, goal, burst, phantom, stale)), min_size=1, max_size=12)
    )
    for block in blocks:
        block(world, draw)
    return world


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_conflicts_once_per_injected_conflict_stale_every_time_nothing_from_lag(
    world: World,
) -> None:
    state, run = replay(world.records)
    opened = run.alerts("SCORE_CONFLICT", "OPEN")
    resolved = run.alerts("SCORE_CONFLICT", "RESOLVED")
    assert len(opened) == len(world.conflicts), (opened, world.conflicts, world.lags)
    assert len(resolved) == len(world.conflicts)
    for alert, (start, end) in zip(opened, world.conflicts, strict=True):
        assert T0 + start <= alert["opened_at"] <= T0 + end
    assert [s["active"] for s in run.signals()] == [True, False] * len(world.conflicts)

    stale_opened = run.alerts("SCORE_STALE", "OPEN")
    assert len(stale_opened) == len(world.stale), (stale_opened, world.stale, world.lags)
    assert len(run.alerts("SCORE_STALE", "RESOLVED")) == len(world.stale)
    for alert, (provider, begin, end) in zip(stale_opened, world.stale, strict=True):
        assert alert["details"]["provider"] == provider
        assert T0 + begin <= alert["opened_at"] <= T0 + end
    assert state["conflict"] is None and state["stale"] is None
    assert run.statuses[-1][1]["status"] == "AGREE"
