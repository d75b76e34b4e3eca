"""No input yields a 5xx: non-finite numbers in any write body are 422s, and writes for unknown elders 404s.

Each service runs in an interpreter of its own (see tests/unit/api_scenarios.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eldercare.settings import REPO_ROOT

# One location per service the walk must reach, so that a walk finding nothing cannot pass.
REACHED = {
    "dispatch": "PATCH /api/v1/responders/{responder_id} location.lat",
    "care_record": "POST /api/v1/elders home_location.lat",
    "monitoring": "POST /api/v1/geofences polygon.0.0",
}


def scenario(*args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.api_scenarios", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("service", sorted(REACHED))
def test_nan_and_infinity_at_every_numeric_field_of_every_write_body_are_a_422_naming_it(
    service: str, tmp_path: Path
) -> None:
    result = scenario("non-finite", service, str(tmp_path))
    assert REACHED[service] in result["probed"], result["probed"]
    assert result["failures"] == []


def test_monitoring_refuses_writes_for_an_elder_its_read_model_does_not_hold(tmp_path: Path) -> None:
    answers = scenario("unknown-elder", str(tmp_path))
    for write in ("thresholds", "geofence"):
        status, body = answers["E-unknown"][write]
        assert status == 404 and "no elder with id E-unknown" in body["detail"], (write, body)
    assert answers["E-known"]["thresholds"][0] == 200 and answers["E-known"]["thresholds"][1]["spo2_low"] == 88
    assert answers["E-known"]["geofence"][0] == 201
