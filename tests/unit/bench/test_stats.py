"""Percentiles with order-statistic confidence intervals, and median and range over repetitions."""

from __future__ import annotations

import math
import random

from bench.stats import binomial_cdf, median_range, percentiles, quantile_ci_ranks


def test_the_median_interval_of_100_samples_is_the_textbook_40th_to_61st() -> None:
    assert quantile_ci_ranks(100, 0.5) == (40, 61)


def test_the_ranks_hold_the_confidence_and_one_rank_tighter_would_not() -> None:
    n, q = 1000, 0.99
    lower, upper = quantile_ci_ranks(n, q)
    assert lower is not None and upper is not None and lower < int(q * n) + 1 < upper
    cdf = binomial_cdf(n, q)
    # P(x_(l) <= p99 <= x_(u)) = P(l <= B <= u - 1)
    assert cdf[upper - 1] - cdf[lower - 1] >= 0.95
    assert cdf[lower - 1] <= 0.025 < cdf[lower]  # l + 1 would miss too often below
    assert 1 - cdf[upper - 1] <= 0.025 < 1 - cdf[upper - 2]  # u - 1 would miss too often above


def test_too_few_probes_for_a_p99_upper_bound_leave_it_unknown() -> None:
    # All of n samples fall below the true p99 with probability 0.99**n: above 2.5 % until n = 368.
    assert quantile_ci_ranks(367, 0.99)[1] is None
    assert quantile_ci_ranks(368, 0.99)[1] == 368
    assert percentiles([0.01] * 100)["p99_ci95_ms"][1] is None


def test_the_interval_covers_the_true_p99_about_95_times_in_100() -> None:
    rng = random.Random(19)
    true_p99 = -2.0 * math.log(0.01)  # exponential, mean 2: a long right tail like latency
    trials, covered = 400, 0
    for _ in range(trials):
        sample = [rng.expovariate(0.5) / 1000 for _ in range(1000)]  # seconds; percentiles reports ms
        low, high = percentiles(sample)["p99_ci95_ms"]
        covered += low <= true_p99 <= high
    assert 0.92 <= covered / trials <= 0.99


def test_percentiles_report_ranks_of_the_sorted_values_in_ms() -> None:
    values = [n / 1000 for n in range(1000, 0, -1)]  # 1..1000 ms, shuffled order does not matter
    p = percentiles(values)
    assert (p["n"], p["p50_ms"], p["p95_ms"], p["p99_ms"], p["max_ms"]) == (1000, 501.0, 951.0, 991.0, 1000.0)
    assert p["p99_ci95_ms"] == [983.0, 997.0]
    assert percentiles([])["p99_ms"] is None


def test_median_range_keeps_every_run() -> None:
    assert median_range([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [3.0, 1.0, 2.0]}
    assert median_range([])["median"] is None
