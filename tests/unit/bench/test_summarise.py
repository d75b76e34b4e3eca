"""The summary of repeated bench runs reports median and range per offered rate, from every run."""

from __future__ import annotations

import json
from pathlib import Path

from bench.summarise import summarise


def _run(path: Path, p99s: dict[int, float]) -> Path:
    steps = [
        {"offered_msg_per_s": rate, "sos_probes": 200, "sos_to_incident_committed_at_most": {"p99_ms": p99}}
        for rate, p99 in p99s.items()
    ]
    path.write_text(json.dumps({"end_to_end": {"steps": steps}}))
    return path


def test_each_rate_gets_the_median_and_range_of_all_runs(tmp_path: Path) -> None:
    runs = [
        _run(tmp_path / "a.json", {1000: 40.0, 3000: 90.0}),
        _run(tmp_path / "b.json", {1000: 60.0, 3000: 150.0}),
        _run(tmp_path / "c.json", {1000: 50.0}),
    ]
    summary = summarise(runs)
    assert summary["runs"] == ["a.json", "b.json", "c.json"]
    p99 = "SOS -> incident committed p99 ms"
    assert summary["rates"]["1000"][p99] == {"median": 50.0, "min": 40.0, "max": 60.0, "runs": [40.0, 60.0, 50.0]}
    assert summary["rates"]["3000"][p99] == {"median": 120.0, "min": 90.0, "max": 150.0, "runs": [90.0, 150.0]}
    assert "SOS -> dispatch handler p50 ms" not in summary["rates"]["1000"]  # absent in the runs: not invented
