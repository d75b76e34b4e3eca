"""The committed generated protobuf code matches proto/ (run `make proto` after editing a schema)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from eldercare.settings import REPO_ROOT

SCHEMAS = sorted((REPO_ROOT / "proto" / "eldercare" / "v1").glob("*.proto"))


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    assert SCHEMAS, "no schemas found under proto/"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            "proto",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            *(str(path.relative_to(REPO_ROOT)) for path in SCHEMAS),
        ],
        cwd=REPO_ROOT,
        check=True,
    )
    for schema in SCHEMAS:
        for suffix in ("_pb2.py", "_pb2.pyi"):
            name = schema.stem + suffix
            generated = (tmp_path / "eldercare" / "v1" / name).read_text()
            committed = (REPO_ROOT / "eldercare" / "v1" / name).read_text()
            assert generated == committed, f"eldercare/v1/{name} is stale: run `make proto`"
