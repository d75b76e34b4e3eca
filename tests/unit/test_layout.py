"""The services keep one skeleton: views get what they need from dependencies, never the app state."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("dispatch", "care_record", "monitoring")


def _reads_app_state(path: Path) -> list[int]:
    """Lines of `path` that read `<something>.app.state`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "state"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "app"
    ]


def test_no_view_reads_the_app_state() -> None:
    # The state is set up in app.py and handed out in deps.py: a view names its needs in its signature.
    offenders = {
        str(path.relative_to(REPO)): lines
        for service in SERVICES
        for path in (REPO / "services" / service).rglob("views.py")
        if (lines := _reads_app_state(path))
    }
    assert offenders == {}


def test_every_service_has_the_same_top_level_modules() -> None:
    for service in SERVICES:
        root = REPO / "services" / service
        missing = [
            name for name in ("app.py", "config.py", "errors.py", "deps.py", "metrics.py") if not (root / name).exists()
        ]
        assert not missing, f"services/{service} lacks {missing}"
        assert (root / "migrations").is_dir(), f"services/{service} has no migrations/"


def test_the_app_state_check_finds_a_view_that_reads_it(tmp_path: Path) -> None:
    view = tmp_path / "views.py"
    view.write_text("def f(request):\n    return request.app.state.settings\n")
    assert _reads_app_state(view) == [2]


def _domain_imports(service: str) -> dict[str, set[str]]:
    """Domain package -> the other domain packages of the same service its modules import."""
    root = REPO / "services" / service
    prefix = f"services.{service}."
    domains = {path.name for path in root.iterdir() if (path / "__init__.py").exists()}
    edges: dict[str, set[str]] = {domain: set() for domain in domains}
    for domain in domains:
        for path in (root / domain).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
                    other = node.module[len(prefix) :].split(".")[0]
                    if other in domains and other != domain:
                        edges[domain].add(other)
    return edges


def test_no_two_domains_import_each_other() -> None:
    # Work that spans two domains goes in the service's flows.py, which imports both.
    for service in SERVICES:
        edges = _domain_imports(service)
        both_ways = sorted({tuple(sorted((a, b))) for a, others in edges.items() for b in others if a in edges[b]})
        assert both_ways == [], f"services/{service}: domains importing each other: {both_ways}"


def test_the_kit_imports_no_service_gateway_or_tool() -> None:
    # eldercare/ is the runtime plumbing every process imports; dev tools live in tools/.
    offenders = []
    for path in (REPO / "eldercare").rglob("*.py"):
        if "/v1/" in str(path):
            continue  # generated protobuf code
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            offenders += [
                f"{path.relative_to(REPO)}: {module}"
                for module in modules
                if module.split(".")[0] in {"gateway", "services", "tools", "bench", "tests"}
            ]
    assert offenders == []


PREAMBLE = {"decode_record", "decode_envelope", "claim_event", "claim_events"}


def _preamble_calls(path: Path) -> list[str]:
    """Names from the handler preamble that `path` calls itself instead of going through eldercare.handlers."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return sorted(
        {
            name
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and (name := getattr(node.func, "id", None) or getattr(node.func, "attr", None)) in PREAMBLE
        }
    )


def test_no_handler_hand_writes_the_decode_and_inbox_preamble() -> None:
    offenders = {
        str(path.relative_to(REPO)): names
        for service in SERVICES
        for path in (REPO / "services" / service).rglob("handlers.py")
        if (names := _preamble_calls(path))
    }
    assert offenders == {}


def test_the_preamble_check_finds_a_hand_written_decode(tmp_path: Path) -> None:
    handler = tmp_path / "handlers.py"
    handler.write_text("async def handle(record):\n    envelope = decode_record(record)\n")
    assert _preamble_calls(handler) == ["decode_record"]
