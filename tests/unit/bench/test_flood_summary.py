"""The flood phase's summary pools every other SOS and reports each flood's slowest, without dropping a run."""

from __future__ import annotations

from typing import Any

from bench.flood import summarise


def _run(commit_s: list[float], *, lost: int = 0, count: int = 20_000) -> dict[str, Any]:
    return {
        "flood_presses": 20_000,
        "others_lost": [f"lost-{n}" for n in range(lost)],
        "commit_s": sorted(commit_s),
        "max_commit_s": max(commit_s) if commit_s else None,
        "within_target": not lost and all(v <= 1.0 for v in commit_s),
        "flooding_device_incidents": 1,
        "flooding_device_alarm_count": count,
    }


def test_every_run_counts_in_the_median_and_range_of_the_slowest() -> None:
    summary = summarise([_run([0.1, 0.3]), _run([0.2, 1.4]), _run([0.05, 0.5])])
    assert summary["repetitions"] == 3 and summary["other_sos"] == 6
    assert summary["per_run_max_s"] == {"median": 0.5, "min": 0.3, "max": 1.4}
    assert summary["commit_max_s"] == 1.4
    assert summary["runs_within_target"] == 2
    assert summary["flooding_device_one_incident_every_press"] is True


def test_a_lost_sos_or_an_uncounted_press_is_reported() -> None:
    summary = summarise([_run([0.1], lost=1), _run([0.2], count=19_999)])
    assert summary["other_sos_lost"] == 1
    assert summary["runs_within_target"] == 1
    assert summary["flooding_device_one_incident_every_press"] is False
