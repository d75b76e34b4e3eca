"""Hostile input to the gateway's decoder: property-based (hypothesis) and coverage-guided (atheris)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eldercare.settings import REPO_ROOT
from gateway.payloads import DeviceMessage, Rejection
from tests.fuzz.invariants import check_message

KINDS = ["sos", "fall", "location", "vitals", "heartbeat", "alarm", "ack", "commands", "teleport", ""]
FIELDS = [
    "event_id",
    "ts",
    "battery",
    "location",
    "lat",
    "lon",
    "accuracy_m",
    "source",
    "speed_kmh",
    "confidence",
    "impact_g",
    "heart_rate",
    "spo2",
    "systolic",
    "diastolic",
    "body_temp",
    "steps",
    "signal",
    "type",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
payload_documents = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=12)
device_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True) | st.text(max_size=70)
topics = st.builds(lambda d, k: f"eldercare/v1/devices/{d}/{k}", device_ids, st.sampled_from(KINDS)) | st.text(
    max_size=120
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, document=payload_documents)
def test_any_json_object_on_any_topic_keeps_the_invariants(topic: str, document: dict[str, Any]) -> None:
    check_message(topic, json.dumps(document).encode())


@settings(max_examples=400, deadline=None)
@given(topic=topics, payload=st.binary(max_size=2048))
def test_any_bytes_on_any_topic_keep_the_invariants(topic: str, payload: bytes) -> None:
    check_message(topic, payload)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["sos", "fall"]),
    document=payload_documents,
)
def test_a_broken_sos_or_fall_always_raises_the_alarm(kind: str, document: dict[str, Any]) -> None:
    outcome = check_message(f"eldercare/v1/devices/860000000000001/{kind}", json.dumps(document).encode())
    assert isinstance(outcome, DeviceMessage) and outcome.kind == kind


@settings(max_examples=300, deadline=None)
@given(document=payload_documents)
def test_telemetry_is_either_valid_or_rejected_with_a_reason(document: dict[str, Any]) -> None:
    outcome = check_message("eldercare/v1/devices/860000000000001/vitals", json.dumps(document).encode())
    assert isinstance(outcome, DeviceMessage | Rejection)
    if isinstance(outcome, DeviceMessage):
        assert outcome.salvaged is None


def test_coverage_guided_fuzzing_finds_no_crash(tmp_path: Path) -> None:
    """100,000 libFuzzer-guided inputs through the decoder; any invariant failure is a crash."""
    runs = 100_000
    result = subprocess.run(
        [
            sys.executable,
            "tests/fuzz/fuzz_payloads.py",
            f"-runs={runs}",
            "-max_len=4096",
            "-seed=1",
            str(tmp_path),
            "tests/fuzz/corpus",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {runs} runs" in result.stderr, result.stderr[-2000:]
