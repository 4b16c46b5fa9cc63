"""The scenario engine: deterministic, finite, and consistent with its own ground truth."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from mmstream.simulators.config import FaultConfig, ScenarioConfig
from mmstream.simulators.faults import FaultPlan
from mmstream.simulators.ground_truth import GroundTruth
from mmstream.simulators.scenario import DEFAULT_CLIENT, Scenario, build_scenario
from mmstream.simulators.timeline import At, render

CONFIG = ScenarioConfig(seed=11, rate=100, duration_s=30)


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    first, _ = build_scenario(CONFIG)
    second, _ = build_scenario(CONFIG)
    other, _ = build_scenario(ScenarioConfig(seed=12, rate=100, duration_s=30))
    assert [render(s.payload, 0) for s in first] == [render(s.payload, 0) for s in second]
    assert [render(s.payload, 0) for s in first] != [render(s.payload, 0) for s in other]


def test_timeline_is_finite_sorted_and_near_the_rate() -> None:
    steps, truth = build_scenario(CONFIG)
    times = [s.t_ms for s in steps]
    assert times == sorted(times) and times[-1] <= 30_000
    assert 0.6 * 3000 <= len(steps) <= 1.2 * 3000
    assert sum(truth.messages.values()) == len(steps)


def test_ground_truth_matches_the_broadcast_life_cycles() -> None:
    steps, truth = build_scenario(CONFIG)
    final_matched: dict[int, float] = {}
    final_bets: dict[int, tuple[int, float, str]] = {}
    for step in steps:
        if step.channel == "orders":
            final_matched[step.payload["orderId"]] = step.payload["matchedStake"]
        elif step.channel == "bets" and step.payload["betStatus"] != "settled":
            final_bets[step.payload["betId"]] = (
                step.payload["orderId"],
                step.payload["placedStake"],
                step.payload["betStatus"],
            )
    for order in truth.orders.values():
        assert order.filled_stake == final_matched[order.order_id]
        for bet in order.bets:
            assert final_bets[bet.bet_id] == (order.order_id, bet.stake, bet.status)
    mine = truth.client_orders(DEFAULT_CLIENT)
    assert any(o.fully_hedged for o in mine), "hedged fills"
    assert any(o.filled_stake > 0 and not o.fully_hedged for o in mine), "unhedged fills"
    assert any(o.rejected_bets for o in mine), "rejected hedges"
    assert any(len(o.bets) > 1 for o in mine), "several bets per order"


def test_bets_sometimes_reach_the_socket_before_their_fill() -> None:
    steps, _ = build_scenario(CONFIG)
    first_bet: dict[int, int] = {}
    first_fill: dict[int, int] = {}
    for step in steps:
        if step.channel not in ("bets", "orders"):
            continue
        order_id = int(step.payload["orderId"])
        if step.channel == "bets":
            first_bet.setdefault(order_id, step.t_ms)
        elif step.channel == "orders" and step.payload["matchedStake"]:
            first_fill.setdefault(order_id, step.t_ms)
    assert any(first_bet[o] < first_fill[o] for o in first_bet if o in first_fill)


def test_mmapi_rows_are_stamped_when_broadcast_and_late_fills_keep_their_match_time() -> None:
    """The provider's event time (`updatedAt`) is when it wrote the row and broadcast it, so a
    latency measured from it is the pipeline's: a fill the MM API writes after its hedge bet
    shows the match time only in `matchedAt`."""
    steps, _ = build_scenario(CONFIG)
    late_fills = 0
    for step in steps:
        if step.feed != "mmapi" or step.channel not in ("orders", "bets", "accounts"):
            continue
        assert step.payload["updatedAt"] == At(step.t_ms), step
        matched = step.payload.get("matchedAt")
        if step.channel == "orders" and step.event == "UPDATE" and matched is not None:
            late_fills += matched.ms < step.t_ms and "matchedAt" in (step.old or {})
    assert late_fills > 0, "fills written after their match"


def test_games_emergencies_conflicts_and_staleness_are_scheduled() -> None:
    steps, truth = build_scenario(CONFIG)
    assert len(truth.emergency_windows) == 1
    assert sum(len(g.conflicts) for g in truth.games.values()) == 1
    assert sum(len(g.stale) for g in truth.games.values()) == 1
    sequences: dict[str, list[int]] = {}
    for step in steps:
        if step.feed == "predexon":
            sequences.setdefault(step.payload["game_id"], []).append(step.payload["sequence"])
    for numbers in sequences.values():
        assert numbers == list(range(1, len(numbers) + 1)), "per-game sequence in send order"


def test_fault_plan_does_what_each_switch_claims() -> None:
    counters: Counter[str] = Counter()
    plan = FaultPlan(
        FaultConfig(duplicate_p=0.2, reorder_p=0.2, malformed_p=0.1, disconnect_every=50),
        random.Random(3),
        counters,
        lambda kind: f"<{kind}>",
    )
    sent: list[str] = []
    disconnects = 0
    for n in range(200):
        for frame in plan.frames_for(str(n)):
            sent.append(frame)
            disconnects += plan.should_disconnect()
    data = [f for f in sent if not f.startswith("<")]
    assert len(data) - len(set(data)) == counters["duplicated"] > 0
    assert sum(f == "<malformed>" for f in sent) == counters["malformed"] > 0
    assert counters["reordered"] > 0 and data != sorted(data, key=int)
    assert disconnects == counters["disconnects"] == len(sent) // 50
    assert set(data) | {str(199)} >= {str(n) for n in range(199)}, "nothing lost but a held last"


def test_the_reconciliation_reads_the_scenario_as_its_ground_truth_says() -> None:
    """Replayed through the reconciliation logic (receive time = send time): Predexon trailing
    by seconds on every game is no conflict, each injected conflict is one window, each
    flagged stale window one stale alert."""
    from tests.unit.processors.score_timelines import T0, Shown, replay

    config = ScenarioConfig(seed=5, rate=40, duration_s=40, games=4, conflicts=2)
    steps, truth = build_scenario(config)
    games = {g.fixture_id: g.game_id for g in truth.games.values()}
    shown: dict[str, list[Shown]] = {g: [] for g in truth.games}
    for step in steps:
        if step.channel == "scores":
            scores = step.payload["scores"]
            game_id = games[step.payload["fixtureId"]]
            live = step.payload["live"]
            shown[game_id].append(
                Shown(step.t_ms, "mmapi", scores["home"], scores["away"], live=live)
            )
        elif step.channel == "sports_live":
            score, rel = step.payload["score"], step.payload["reliability"]
            record = Shown(
                step.t_ms,
                "predexon",
                score["home"],
                score["away"],
                rel["conflict"],
                rel["stale"],
                step.payload["live"],
            )
            shown[step.payload["game_id"]].append(record)
    offset = T0 - truth.start_ms
    assert sum(len(g.conflicts) for g in truth.games.values()) == 2
    for game in truth.games.values():
        _, run = replay(shown[game.game_id])
        opened = run.alerts("SCORE_CONFLICT", "OPEN")
        assert len(opened) == len(game.conflicts), (game.game_id, opened)
        assert len(run.alerts("SCORE_CONFLICT", "RESOLVED")) == len(game.conflicts)
        for alert, window in zip(opened, game.conflicts, strict=True):
            assert window.start_ms + offset <= alert["opened_at"] <= window.end_ms + offset
        stale = run.alerts("SCORE_STALE", "OPEN")
        assert len(stale) == len(game.stale), (game.game_id, stale)
        for alert, window in zip(stale, game.stale, strict=True):
            assert window.start_ms + offset <= alert["opened_at"] <= window.end_ms + offset
        catching = [r for _, r in run.statuses if r["status"] == "CATCHING_UP"]
        assert any(r["lagging_provider"] == "predexon" for r in catching)
        assert run.statuses[-1][1]["status"] == "AGREE"


def test_a_scenario_with_no_end_plays_on_in_a_bounded_window() -> None:
    """No end: games follow each other round after round, orders keep arriving, emergencies
    come every period, and only the steps of the orders and games under way are held."""
    config = ScenarioConfig(
        seed=3, rate=50, duration_s=None, game_s=30, emergency_every_s=100, games=4
    )
    scenario = Scenario(config)
    steps = []
    most_pending = 0
    for step in scenario:
        steps.append(step)
        most_pending = max(most_pending, len(scenario.builder.pending))
        if step.t_ms > 400_000:
            break
    times = [s.t_ms for s in steps]
    assert times == sorted(times)
    assert 0.6 * 50 * 400 <= len(steps) <= 1.2 * 50 * 400
    # an order lives ~25 s; a game's whole schedule is made at its start: 30 s of scores
    assert most_pending < 50 * 60, most_pending
    games = {s.payload["game_id"] for s in steps if s.channel == "sports_live"}
    assert len(games) >= 4 * 400 // 40, "a new game in each slot after each game"
    late = [s for s in steps if s.t_ms > 350_000]
    assert {s.channel for s in late} >= {"orders", "bets", "scores", "sports_live"}
    raised = [s.t_ms for s in steps if s.channel == "emergency" and s.payload["emergency"]]
    assert raised == [75_000, 175_000, 275_000, 375_000]
    sequences: dict[str, list[int]] = {}
    for step in steps:
        if step.feed == "predexon":
            sequences.setdefault(step.payload["game_id"], []).append(step.payload["sequence"])
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in sequences.values())
    again = [render(s.payload, 0) for s, _ in zip(Scenario(config), range(3000), strict=False)]
    assert again == [render(s.payload, 0) for s in steps[:3000]], "the same seed, the same play"


def test_a_bounded_scenario_longer_than_a_game_plays_several_rounds_within_its_end() -> None:
    config = ScenarioConfig(seed=4, rate=20, duration_s=200, game_s=40, games=2)
    steps, truth = build_scenario(config)
    assert len(truth.games) >= 2 * 200 // 60
    assert all(s.t_ms <= 200_000 for s in steps)
    finals = {s.payload["game_id"] for s in steps if s.feed == "predexon" and s.payload["ended"]}
    assert finals == set(truth.games), "every game started is shown ending on both feeds"
    assert sum(truth.messages.values()) == len(steps)


def test_the_ground_truth_file_reads_back_as_written(tmp_path: Path) -> None:
    _, truth = build_scenario(ScenarioConfig(seed=5, rate=40, duration_s=20, conflicts=2))
    path = tmp_path / "ground_truth.json"
    truth.write(path)
    assert GroundTruth.read(path) == truth
    assert json.loads(path.read_text())["orders"], "one JSON object, orders included"
