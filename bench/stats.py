"""The statistics the bench reports: percentiles with distribution-free confidence intervals, median and range.

Latencies are not normally distributed (a long right tail), so the p99's interval comes from
order statistics, not from a mean and a standard deviation: with n probes, the number that
fall below the true p99 is Binomial(n, 0.99), so a pair of ranks (l, u) with
P(l <= B < u) >= 95 % brackets the true p99 between the l-th and u-th smallest probe,
whatever the distribution. Too few probes and no upper rank qualifies: the bound is then
reported as None, not invented (for a p99 at 95 % that takes 368 or more probes: the
issue asks for 1,000 per step).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

CONFIDENCE = 0.95


def binomial_cdf(n: int, q: float) -> list[float]:
    """[P(Binomial(n, q) <= k) for k in 0..n], in log space: thousands of trials neither overflow nor underflow."""
    log_q, log_p = math.log(q), math.log1p(-q)
    log_n = math.lgamma(n + 1)
    cdf, total = [], 0.0
    for k in range(n + 1):
        total += math.exp(log_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_q + (n - k) * log_p)
        cdf.append(min(total, 1.0))
    return cdf


def quantile_ci_ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) with P(x_(l) <= true q-quantile <= x_(u)) >= confidence; None where no rank does.

    The split is equal-tailed: each side misses with probability at most (1 - confidence) / 2.
    """
    if n < 1:
        return None, None
    tail = (1 - confidence) / 2
    cdf = binomial_cdf(n, q)
    # x_(l) <= quantile  <=>  at least l samples fall below it  <=>  B >= l: it misses when B <= l - 1.
    lowers = [rank for rank in range(1, n + 1) if cdf[rank - 1] <= tail]
    # quantile <= x_(u)  <=>  fewer than u samples fall below it  <=>  B <= u - 1: it misses when B >= u.
    uppers = [rank for rank in range(1, n + 1) if 1 - cdf[rank - 1] <= tail]
    return (max(lowers) if lowers else None), (min(uppers) if uppers else None)


def _rank_of(n: int, q: float) -> int:
    """The 1-based rank the point estimate takes (the value below which a fraction q of the probes fall)."""
    return min(n, int(q * n) + 1)


def percentiles(values: list[float]) -> dict[str, Any]:
    """p50/p95/p99/max in milliseconds (values in seconds), with the p99's 95 % confidence interval."""
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "p99_ci95_ms": [None, None]}
    ordered = sorted(values)

    def ms(rank: int | None) -> float | None:
        return None if rank is None else round(1000 * ordered[rank - 1], 1)

    n = len(ordered)
    lower, upper = quantile_ci_ranks(n, 0.99)
    return {
        "n": n,
        "p50_ms": ms(_rank_of(n, 0.5)),
        "p95_ms": ms(_rank_of(n, 0.95)),
        "p99_ms": ms(_rank_of(n, 0.99)),
        "max_ms": ms(n),
        "p99_ci95_ms": [ms(lower), ms(upper)],
    }


def median_range(values: list[float]) -> dict[str, Any]:
    """Median, min, max and every value, so a quoted median can be traced to the runs behind it."""
    if not values:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}
