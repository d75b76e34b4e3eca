"""Median and range of end-to-end figures over repeated `make bench` runs.

    python -m bench.summarise bench/results/bench-A.json bench/results/bench-B.json ...

Prints one table per offered rate and writes `bench/results/e2e-summary-<time>.json` naming
the runs it read, so a figure quoted in the docs can be traced to the runs behind it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.stats import median_range

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


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]]
    if not paths:
        sys.exit("usage: python -m bench.summarise RESULT.json [RESULT.json ...]")
    summary = summarise(paths)
    for rate, figures in summary["rates"].items():
        print(f"\noffered {rate} msg/s ({len(paths)} runs): median (min-max)")
        for label, figure in figures.items():
            print(f"  {label:36} {figure['median']:9.1f} ({figure['min']:.1f}-{figure['max']:.1f})")
    out = RESULTS / f"e2e-summary-{time.strftime('%Y-%m-%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
