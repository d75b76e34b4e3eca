"""The supply chain: hashed lock files split runtime / dev, an image that installs only them, pinned images,
and dependency bounds that say what the code needs."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = REPO / "requirements" / "runtime.lock"
DEV_LOCK = REPO / "requirements" / "dev.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s\\;]+)")


@cache
def locked(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, sha256 hashes) for every requirement of a pip-compile lock file."""
    entries: dict[str, tuple[str, frozenset[str]]] = {}
    current: str | None = None
    hashes: set[str] = set()
    version = ""
    for line in [*path.read_text().splitlines(), ""]:
        pin = PIN.match(line)
        if pin or (line and not line.startswith((" ", "#"))) or not line:
            if current is not None:
                entries[current] = (version, frozenset(hashes))
            current, hashes = None, set()
        if pin:
            current, version = canonicalize_name(pin.group(1)), pin.group(3)
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"{path.name}: not a pinned requirement: {line!r}")
        hashes.update(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return entries


def project() -> dict[str, list[Requirement]]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {
        "runtime": [Requirement(spec) for spec in meta["dependencies"]],
        "dev": [Requirement(spec) for spec in meta["optional-dependencies"]["dev"]],
    }


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda path: path.name)
def test_every_locked_package_is_pinned_with_its_hashes(lock: Path) -> None:
    entries = locked(lock)
    assert len(entries) > 20
    unhashed = sorted(name for name, (_, hashes) in entries.items() if not hashes)
    assert not unhashed, f"{lock.name}: no --hash for {unhashed}"
    # The project builds without fetching anything unlocked (Dockerfile: --no-build-isolation).
    assert "setuptools" in entries


def test_the_runtime_lock_is_the_dev_locks_runtime_part() -> None:
    runtime, dev = locked(RUNTIME_LOCK), locked(DEV_LOCK)
    different = {name: (pin, dev.get(name)) for name, pin in runtime.items() if dev.get(name) != pin}
    assert not different, f"runtime.lock and dev.lock disagree: {different}"
    # No development tool reaches the image.
    for tool in ("pytest", "mypy", "ruff", "hypothesis", "pip-audit"):
        assert tool not in runtime and tool in dev, tool


@pytest.mark.parametrize(("part", "lock"), [("runtime", RUNTIME_LOCK), ("dev", DEV_LOCK)])
def test_the_locks_satisfy_pyproject(part: str, lock: Path) -> None:
    entries = locked(lock)
    for requirement in project()[part]:
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{requirement} is not in {lock.name}"
        assert requirement.specifier.contains(entries[name][0], prereleases=True), (str(requirement), entries[name])


def _bounds(name: str) -> SpecifierSet:
    [requirement] = [r for r in project()["runtime"] if canonicalize_name(r.name) == name]
    return requirement.specifier


def test_protobuf_bounds_cover_the_generated_code() -> None:
    # protoc stamps the version it generated with; the runtime must be at least that, of the same major.
    generated = set()
    for module in (REPO / "eldercare" / "v1").glob("*_pb2.py"):
        found = re.search(
            r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),",
            module.read_text(),
        )
        assert found, module.name
        generated.add(Version(".".join(found.groups())))
    newest = max(generated)
    major, minor, micro = newest.release[:3]
    just_older = f"{major}.{minor}.{micro - 1}" if micro else f"{major}.{minor - 1}.99" if minor else f"{major - 1}.99"
    bounds = _bounds("protobuf")
    assert bounds.contains(str(newest)), bounds
    assert not bounds.contains(just_older), f"{bounds} admits {just_older}, older than the generated code ({newest})"
    assert not bounds.contains(f"{major + 1}.0.0"), f"{bounds} admits the next major"


def test_paho_mqtt_bounds_are_the_v2_api() -> None:
    bounds = _bounds("paho-mqtt")
    assert bounds.contains("2.1.0") and not bounds.contains("2.0.0") and not bounds.contains("3.0.0"), bounds


def test_the_dockerfile_installs_the_hashed_runtime_lock_before_the_source() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines() if line.strip()]
    steps = [line for line in lines if not line.startswith("#")]
    lock_copy = steps.index("COPY requirements/runtime.lock ./requirements/")
    install = steps.index("RUN pip install --require-hashes -r requirements/runtime.lock")
    first_source = min(
        i for i, step in enumerate(steps) if re.match(r"COPY (eldercare|gateway|services|tools)\b", step)
    )
    assert lock_copy < install < first_source
    # The project itself adds nothing unlocked.
    assert "RUN pip install --no-deps --no-build-isolation ." in steps
    for step in steps:
        if step.startswith("FROM "):
            assert re.match(r"FROM python:3\.11\.\d+-slim-bookworm\b", step), step


def test_compose_images_are_pinned_by_exact_version() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name, spec in services.items():
        image = spec.get("image")
        if image is None or image == "eldercare:latest":  # built here from the Dockerfile
            continue
        tag = image.rpartition(":")[2]
        # x.y.z, or PostgreSQL's own two-part x.y
        pattern = r"\d+\.\d+" if image.startswith("postgres:") else r"v?\d+\.\d+\.\d+"
        assert re.fullmatch(pattern, tag), f"{name}: {image} is not pinned to a release"


def test_the_build_context_carries_the_lock_but_no_key() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert "certs" in ignored and ".env" in ignored  # tools.certs' private keys, the operator's secrets
    assert not ignored & {"requirements", "requirements/", "requirements/*", "*.lock"}
