"""The committed generated protobuf code matches proto/ (run `make proto` after editing a schema)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from eldercare.settings import REPO_ROOT


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            "proto",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            "proto/eldercare/v1/events.proto",
        ],
        cwd=REPO_ROOT,
        check=True,
    )
    for name in ("events_pb2.py", "events_pb2.pyi"):
        generated = (tmp_path / "eldercare" / "v1" / name).read_text()
        committed = (REPO_ROOT / "eldercare" / "v1" / name).read_text()
        assert generated == committed, f"eldercare/v1/{name} is stale: run `make proto`"
