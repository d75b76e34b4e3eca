"""The charts beside a result file, drawn from a synthetic report: three valid PNGs, or none without an e2e."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from bench.charts import chart_paths, write_charts
from bench.summarise import report_summary


def _step(rate: int, p99: float, *, ci: list[float | None]) -> dict[str, Any]:
    samples = [
        {
            "t_s": t,
            "lag": {"monitoring": rate * t / 100, "dispatch": 0.0},
            "processes": {"gateway": {"cpu_pct": rate / 50, "rss_mb": 80 + t}, "kafka": {"cpu_pct": 20, "rss_mb": 400}},
        }
        for t in (2.0, 4.0, 6.0)
    ]
    return {
        "offered_msg_per_s": rate,
        "consumer_lag_growth_per_s": {"monitoring": 0.0},
        "sos_probes": 1000,
        "sos_committed_ms": [20.0] * 990 + [p99] * 10,
        "sos_to_incident_committed_at_most": {"p50_ms": 20.0, "p95_ms": 40.0, "p99_ms": p99, "p99_ci95_ms": ci},
        "samples": samples,
    }


def _report() -> dict[str, Any]:
    runs = [
        {"steps": [_step(0, 50.0, ci=[45.0, 60.0]), _step(1000, 80.0, ci=[70.0, None])]},
        {"steps": [_step(0, 55.0, ci=[50.0, 62.0]), _step(1000, 95.0, ci=[85.0, 99.0])]},
    ]
    report = {"label": "synthetic", "started_at": "2026-12-08T00:00:00Z", "plan": {"e2e_step_s": 6.0}}
    report["end_to_end"] = {"runs": runs}
    return {"summary": report_summary(report), **report}


def test_every_chart_is_a_png_named_after_the_result_file(tmp_path: Path) -> None:
    result = tmp_path / "bench-2026-12-08T000000Z.json"
    written = write_charts(_report(), result)
    assert sorted(p.name for p in written) == sorted(
        f"bench-2026-12-08T000000Z-{name}.png" for name in ("latency", "lag", "processes")
    )
    for path in written:
        with Image.open(path) as image:
            image.verify()  # raises on a truncated or malformed file
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 400


def test_a_report_without_an_e2e_phase_gets_no_charts(tmp_path: Path) -> None:
    result = tmp_path / "flood.json"
    assert write_charts({"label": "flood", "flood": {}}, result) == []
    assert not any(path.exists() for path in chart_paths(result).values())
