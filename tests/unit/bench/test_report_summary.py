"""The result file's top-level summary, computed from a synthetic report (no platform needed)."""

from __future__ import annotations

from typing import Any

from bench.summarise import kept_up, report_summary

SUMMARY_KEYS = {
    "sustained_msgs_per_s",
    "sos_commit_p99_ms",
    "gateway_vs_raw",
    "repetitions",
    "step_seconds",
    "probes_per_step",
    "postgres_fsync",
    "elders_in_db",
    "incidents_in_db",
}


def _step(rate: int, growth: dict[str, float], p99: float, probes: int = 1000) -> dict[str, Any]:
    latencies = [10.0] * (probes - 20) + [p99] * 20  # the slowest 2 % at `p99` ms
    return {
        "offered_msg_per_s": rate,
        "consumer_lag_growth_per_s": growth,
        "sos_probes": probes,
        "sos_committed_ms": latencies,
        "sos_to_incident_committed_at_most": {"p99_ms": p99, "p99_ci95_ms": [p99 - 1, p99 + 1]},
    }


def _report(runs: list[list[dict[str, Any]]], *, fsync: str = "on") -> dict[str, Any]:
    return {
        "plan": {"e2e_step_s": 60.0},
        "machine": {"postgres": {"fsync": fsync, "synchronous_commit": "on"}},
        "city": {"elders_in_db": 100_000, "incidents_in_db": 1_000_000},
        "ceiling": {"gateway_to_raw_ratio": {"2_process": {"median": 0.8, "min": 0.7, "max": 0.9, "runs": []}}},
        "end_to_end": {"runs": [{"steps": steps} for steps in runs]},
    }


def test_a_consumer_keeps_up_while_its_lag_grows_by_at_most_one_percent_of_the_offered_rate() -> None:
    assert kept_up(_step(1000, {"monitoring": 11.0, "dispatch": 0.0}, 50))  # 1 % of 1000 + 1
    assert not kept_up(_step(1000, {"monitoring": 11.5, "dispatch": 0.0}, 50))
    assert kept_up(_step(0, {"monitoring": 1.0}, 50)) and not kept_up(_step(0, {"monitoring": 2.0}, 50))


def test_the_summary_names_the_highest_rate_every_consumer_kept_up_with_per_run_then_median_and_range() -> None:
    ok, behind = {"monitoring": 0.0, "dispatch": 0.0}, {"monitoring": 500.0, "dispatch": 0.0}
    runs = [
        [_step(1000, ok, 40), _step(3000, ok, 80), _step(5000, behind, 900)],
        [_step(1000, ok, 50), _step(3000, behind, 120), _step(5000, behind, 950)],
        [_step(1000, ok, 45), _step(3000, ok, 90), _step(5000, ok, 700)],
    ]
    summary = report_summary(_report(runs))
    assert set(summary) >= SUMMARY_KEYS
    sustained = summary["sustained_msgs_per_s"]
    assert (sustained["median"], sustained["min"], sustained["max"]) == (3000.0, 1000.0, 5000.0)
    assert sustained["runs"] == [3000.0, 1000.0, 5000.0]
    p99 = summary["sos_commit_p99_ms"]
    assert set(p99) == {"1000", "3000", "5000"}
    assert (p99["3000"]["median"], p99["3000"]["min"], p99["3000"]["max"]) == (90.0, 80.0, 120.0)
    assert p99["3000"]["ci95_runs"] == [[79.0, 81.0], [119.0, 121.0], [89.0, 91.0]]
    # 3,000 probes pooled: 2,940 at 10 ms, then 20 each at 80, 90 and 120; the p99 is the 2,971st.
    assert p99["3000"]["pooled"]["n"] == 3000 and p99["3000"]["pooled"]["p99_ms"] == 90.0
    assert summary["gateway_vs_raw"]["2_process"]["median"] == 0.8
    assert (summary["repetitions"], summary["step_seconds"], summary["probes_per_step"]) == (3, 60.0, 1000)
    assert summary["postgres_fsync"] is True
    assert (summary["elders_in_db"], summary["incidents_in_db"]) == (100_000, 1_000_000)


def test_a_run_that_kept_up_at_no_rate_is_counted_not_hidden_and_short_steps_show_in_probes_per_step() -> None:
    behind = {"monitoring": 500.0}
    runs = [[_step(1000, behind, 40)], [_step(1000, {"monitoring": 0.0}, 40, probes=990)]]
    summary = report_summary(_report(runs, fsync="off"))
    assert summary["sustained_msgs_per_s"]["runs"] == [1000.0]
    assert summary["sustained_msgs_per_s"]["runs_where_no_rate_kept_up"] == 1
    assert summary["probes_per_step"] == 990
    assert summary["postgres_fsync"] is False
