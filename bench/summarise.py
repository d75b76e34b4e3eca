"""Median and range of end-to-end figures over repeated `make bench` runs.

    python -m bench.summarise bench/results/bench-A.json bench/results/bench-B.json ...

Prints one table per offered rate and writes `bench/results/summary-<time>.json` naming
the runs it read, so a figure quoted in the docs can be traced to the runs behind it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.stats import median_range, percentiles

RESULTS = Path(__file__).parent / "results"

# (label, path into a step), in the order the docs quote them.
FIGURES: list[tuple[str, tuple[str, ...]]] = [
    ("gateway produced msg/s", ("gateway_produced_msg_per_s",)),
    ("monitoring lag growth /s", ("consumer_lag_growth_per_s", "monitoring")),
    ("SOS probes", ("sos_probes",)),
    ("SOS -> incident committed p50 ms", ("sos_to_incident_committed_at_most", "p50_ms")),
    ("SOS -> incident committed p99 ms", ("sos_to_incident_committed_at_most", "p99_ms")),
    ("SOS -> incident committed max ms", ("sos_to_incident_committed_at_most", "max_ms")),
    ("SOS -> dispatch handler p50 ms", ("sos_to_dispatch_handler", "p50_ms")),
    ("SOS -> dispatch handler p99 ms", ("sos_to_dispatch_handler", "p99_ms")),
    ("SOS -> event stream p99 ms", ("sos_to_stream", "p99_ms")),
    ("alarm transaction mean ms", ("dispatch", "alarm_transaction_mean_ms")),
    ("outbox row -> Kafka ack mean ms", ("dispatch", "outbox_delay_mean_ms")),
    ("SOS missing", ("sos_missing",)),
]


def _dig(step: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = step
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return None if value is None else float(value)


def runs_of(report: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Each run's e2e steps: a report holds several repetitions, one from before issue 19 holds one."""
    e2e = report["end_to_end"]
    return [run["steps"] for run in e2e["runs"]] if "runs" in e2e else [e2e["steps"]]


def by_rate(runs: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per offered rate, each figure's median and range over the runs that have it."""
    steps_by_rate: dict[int, list[dict[str, Any]]] = {}
    for steps in runs:
        for step in steps:
            steps_by_rate.setdefault(int(step["offered_msg_per_s"]), []).append(step)
    rates: dict[str, dict[str, Any]] = {}
    for rate, steps in sorted(steps_by_rate.items()):
        figures: dict[str, Any] = {}
        for label, path in FIGURES:
            values = [v for v in (_dig(step, path) for step in steps) if v is not None]
            if values:
                figures[label] = median_range(values)
        rates[str(rate)] = figures
    return rates


def summarise(paths: list[Path]) -> dict[str, Any]:
    runs = [steps for path in paths for steps in runs_of(json.loads(path.read_text()))]
    return {"runs": [path.name for path in paths], "rates": by_rate(runs)}


# "Kept up": over the whole step a consumer's lag grew by at most 1 % of the telemetry offered,
# plus one record a second for what is always in flight (a fetched batch not yet committed, the
# probes' own events). A consumer that falls behind for good gains lag in proportion to the
# excess rate, so at 60 s steps this tells a real shortfall from the noise of one scrape.
KEPT_UP_FRACTION = 0.01
KEPT_UP_FLOOR_PER_S = 1.0
KEPT_UP_RULE = (
    f"every consumer's lag growth over the step <= {KEPT_UP_FRACTION:.0%} of the offered rate "
    f"+ {KEPT_UP_FLOOR_PER_S:g} record/s"
)


def kept_up(step: dict[str, Any]) -> bool:
    """Whether every consumer kept up with the step's offered rate (KEPT_UP_RULE)."""
    allowed = KEPT_UP_FRACTION * step["offered_msg_per_s"] + KEPT_UP_FLOOR_PER_S
    return all(growth <= allowed for growth in step["consumer_lag_growth_per_s"].values())


def sustained(steps: list[dict[str, Any]]) -> int | None:
    """The highest offered rate of one run at which every consumer kept up; None when none did."""
    rates = [step["offered_msg_per_s"] for step in steps if kept_up(step)]
    return max(rates) if rates else None


def report_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The top-level `summary` of a result file: the figures the docs quote, each traceable to its runs."""
    runs = runs_of(report) if "end_to_end" in report else []
    all_steps = [step for steps in runs for step in steps]
    p99_by_rate: dict[str, Any] = {}
    for rate, figures in by_rate(runs).items():
        steps = [step for step in all_steps if str(step["offered_msg_per_s"]) == rate]
        figure = figures.get("SOS -> incident committed p99 ms", median_range([]))
        pooled = [v for step in steps for v in step.get("sos_committed_ms", [])]
        p99_by_rate[rate] = {
            **figure,
            "ci95_runs": [step["sos_to_incident_committed_at_most"].get("p99_ci95_ms") for step in steps],
            # Every run's probes together: more probes, a narrower interval (same rate, fresh platforms).
            "pooled": pooled_p99(pooled),
        }
    per_run_sustained = [sustained(steps) for steps in runs]
    ceiling = report.get("ceiling", {})
    postgres = report.get("machine", {}).get("postgres", {})
    city = report.get("city", {})
    return {
        "sustained_msgs_per_s": {
            **median_range([float(rate) for rate in per_run_sustained if rate is not None]),
            "runs_where_no_rate_kept_up": sum(rate is None for rate in per_run_sustained),
            "rule": KEPT_UP_RULE,
        },
        "sos_commit_p99_ms": p99_by_rate,
        "gateway_vs_raw": ceiling.get("gateway_to_raw_ratio"),
        "repetitions": len(runs) or len(ceiling.get("runs", [])),
        "step_seconds": report.get("plan", {}).get("e2e_step_s"),
        # What every step actually sent, not what was planned.
        "probes_per_step": min((step["sos_probes"] for step in all_steps), default=0),
        "postgres_fsync": postgres.get("fsync") == "on",
        "postgres_synchronous_commit": postgres.get("synchronous_commit"),
        "elders_in_db": city.get("elders_in_db", 0),
        "incidents_in_db": city.get("incidents_in_db", 0),
    }


def pooled_p99(latencies_ms: list[float]) -> dict[str, Any]:
    """p99 and its 95 % interval over latencies already in ms."""
    figures = percentiles([v / 1000 for v in latencies_ms])
    return {"n": figures["n"], "p99_ms": figures["p99_ms"], "p99_ci95_ms": figures["p99_ci95_ms"]}


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]]
    if not paths:
        sys.exit("usage: python -m bench.summarise RESULT.json [RESULT.json ...]")
    summary = summarise(paths)
    for rate, figures in summary["rates"].items():
        print(f"\noffered {rate} msg/s ({len(paths)} runs): median (min-max)")
        for label, figure in figures.items():
            print(f"  {label:36} {figure['median']:9.1f} ({figure['min']:.1f}-{figure['max']:.1f})")
    out = RESULTS / f"summary-{time.strftime('%Y-%m-%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
