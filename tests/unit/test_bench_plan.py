"""The benchmark plan's sizing rules (the harness itself runs in tests/bench)."""

from __future__ import annotations

from bench.harness import BenchPlan


def test_a_large_ceiling_backlog_is_spread_so_no_device_goes_over_the_gateway_burst() -> None:
    # 600,000 reports from 2,000 devices is 300 each: the gateway would dead-letter a third as rate-limited.
    assert BenchPlan(ceiling_messages=600_000).ceiling_fleet == 6_000
    assert BenchPlan(ceiling_messages=100_000).ceiling_fleet == 2_000
