"""schemathesis against every service's OpenAPI: no 5xx, and every response matches the schema.

Runs the schemathesis CLI (examples, coverage and fuzzing phases) with an admin
token, a bounded example count and a fixed seed, so a CI run takes a bounded time
and a failure reproduces. The live-update stream (Server-Sent Events, endless by
design) is left out; everything else each service documents is exercised.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.platform import Platform

# Generous: a platform start on a loaded 2-core machine alone can take minutes.
pytestmark = [pytest.mark.timeout(900), pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

MAX_EXAMPLES = os.environ.get("API_FUZZ_MAX_EXAMPLES", "10")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.parametrize("service", ["dispatch", "care-record", "monitoring", "gateway"])
async def test_no_server_errors_and_responses_match_the_schema(
    fuzz_platform: Platform, service: str, workdir: Path
) -> None:
    argv = [
        str(SCHEMATHESIS),
        "run",
        fuzz_platform.url(service, "/openapi.json"),
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        "7",
        # NUL bytes in strings, pinned on. Non-finite numbers have no switch (schemathesis generates
        # only what JSON can hold); tests/unit/test_api_input.py sends NaN and Infinity as raw text.
        "--generation-allow-x00",
        "true",
        "--header",
        "Authorization: Bearer dev-admin-token",
        "--exclude-path-regex",
        "/stream$",
        "--request-timeout",
        "10",
        "--max-failures",
        "20",
        "--no-color",
    ]
    # Run outside the checkout: schemathesis keeps its state in ./.schemathesis.
    completed = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=600, check=False, cwd=workdir
    )
    assert completed.returncode == 0, completed.stdout[-12000:] + completed.stderr[-2000:]
