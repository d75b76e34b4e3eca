"""PNG charts beside a result file: `<stem>-latency.png`, `<stem>-lag.png`, `<stem>-processes.png`.

- latency: SOS -> incident committed p50/p95 (median of the runs) and p99 (every run's probes
  pooled, with its 95 % interval as the error bar; grey dots each run's own p99) against the offered rate;
- lag: each consumer's lag over time, every run's steps one after the other;
- processes: CPU % and RSS of every process over the same time line.

Drawn with matplotlib's Agg backend: no display needed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHARTS = ("latency", "lag", "processes")
TIME_LINE = "time through the runs' steps, one after another (s)"


def chart_paths(result: Path) -> dict[str, Path]:
    return {name: result.with_name(f"{result.stem}-{name}.png") for name in CHARTS}


def write_charts(report: dict[str, Any], result: Path) -> list[Path]:
    """The charts of a report's e2e phase, beside its JSON file; none without an e2e phase."""
    e2e = report.get("end_to_end")
    if not e2e or not e2e.get("runs"):
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = chart_paths(result)
    title = f"{report.get('label', 'bench')} {report.get('started_at', '')}"
    for name, draw in (("latency", _latency), ("lag", _lag), ("processes", _processes)):
        figure = draw(plt, report)
        figure.suptitle(f"{figure.get_suptitle()}\n{title}", fontsize=9)
        figure.savefig(paths[name], dpi=100)
        plt.close(figure)
    return list(paths.values())


def _latency(plt: Any, report: dict[str, Any]) -> Any:
    figure, axes = plt.subplots(figsize=(8, 5))
    runs = report["end_to_end"]["runs"]
    rates = sorted({step["offered_msg_per_s"] for run in runs for step in run["steps"]})

    def per_rate(rate: int, key: str) -> list[float]:
        return [
            step["sos_to_incident_committed_at_most"][key]
            for run in runs
            for step in run["steps"]
            if step["offered_msg_per_s"] == rate and step["sos_to_incident_committed_at_most"].get(key) is not None
        ]

    for label, key in (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms")):
        medians = [statistics.median(per_rate(rate, key)) if per_rate(rate, key) else None for rate in rates]
        if label != "p99":
            axes.plot(rates, medians, marker="o", label=f"{label} (median of runs)")
            continue
        # The p99 of every run's probes pooled, with its interval (which brackets it by construction).
        by_rate = report.get("summary", {}).get("sos_commit_p99_ms", {})
        pooled = [by_rate.get(str(rate), {}).get("pooled", {}) for rate in rates]
        points = [one.get("p99_ms") for one in pooled]
        low, high = [], []
        for point, one in zip(points, pooled, strict=True):
            bounds = one.get("p99_ci95_ms") or [None, None]
            # An unknown bound (too few probes) is drawn as no bar on that side, not as zero.
            low.append(point - bounds[0] if point is not None and bounds[0] is not None else 0.0)
            high.append(bounds[1] - point if point is not None and bounds[1] is not None else 0.0)
        axes.errorbar(rates, points, yerr=[low, high], marker="o", capsize=4, label="p99 of the runs pooled, 95 % CI")
        for rate in rates:
            values = per_rate(rate, key)
            axes.scatter([rate] * len(values), values, color="grey", s=10, zorder=3)
    return _finish(
        figure,
        axes,
        x="offered telemetry (msg/s)",
        y="SOS -> incident committed (ms, at most)",
        title="SOS latency against offered rate",
    )


def _steps(report: dict[str, Any]) -> Iterator[tuple[float, bool, dict[str, Any]]]:
    """(where the step starts on one time line through every run's steps, first of its run, step)."""
    offset = 0.0
    step_s = report.get("plan", {}).get("e2e_step_s") or 0.0
    for run in report["end_to_end"]["runs"]:
        for number, step in enumerate(run["steps"]):
            yield offset, number == 0, step
            offset += max([step_s, *(s["t_s"] for s in step.get("samples", []))])


def _timeline(report: dict[str, Any]) -> Iterator[tuple[float, dict[str, Any]]]:
    """(seconds on that time line, sample)."""
    for offset, _, step in _steps(report):
        for sample in step.get("samples", []):
            yield offset + sample["t_s"], sample


def _boundaries(axes: Any, report: dict[str, Any]) -> None:
    """A dotted line at each step's start, labelled with its offered rate; solid at each run's."""
    for offset, first, step in _steps(report):
        axes.axvline(offset, color="black", linestyle="-" if first else ":", linewidth=0.6)
        axes.annotate(f"{step['offered_msg_per_s']}/s", (offset, 1), xycoords=("data", "axes fraction"), fontsize=7)


def _finish(figure: Any, axes: Any, *, x: str, y: str, title: str) -> Any:
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    figure.suptitle(title)
    return figure


def _lag(plt: Any, report: dict[str, Any]) -> Any:
    figure, axes = plt.subplots(figsize=(10, 5))
    series: dict[str, tuple[list[float], list[float]]] = {}
    for t, sample in _timeline(report):
        for consumer, lag in sample["lag"].items():
            series.setdefault(consumer, ([], []))
            series[consumer][0].append(t)
            series[consumer][1].append(lag)
    for consumer, (times, lags) in sorted(series.items()):
        axes.plot(times, lags, label=consumer, linewidth=1)
    _boundaries(axes, report)
    return _finish(figure, axes, x=TIME_LINE, y="consumer lag (records)", title="Consumer lag over time")


def _processes(plt: Any, report: dict[str, Any]) -> Any:
    figure, (cpu_axes, rss_axes) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    series: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for t, sample in _timeline(report):
        for name, usage in sample["processes"].items():
            series.setdefault(name, ([], [], []))
            series[name][0].append(t)
            series[name][1].append(usage["cpu_pct"])
            series[name][2].append(usage["rss_mb"])
    for name, (times, cpu, rss) in sorted(series.items()):
        cpu_axes.plot(times, cpu, label=name, linewidth=1)
        rss_axes.plot(times, rss, label=name, linewidth=1)
    for axes in (cpu_axes, rss_axes):
        _boundaries(axes, report)
    _finish(figure, cpu_axes, x="", y="CPU (% of one core)", title="")
    return _finish(figure, rss_axes, x=TIME_LINE, y="RSS (MB)", title="CPU and RSS per process")
