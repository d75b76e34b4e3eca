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


# ---- the tests' own tree (docs/architecture.md, "Tests") ----------------------------------------

TESTS = REPO / "tests"
# A test folder named after an area of the code holds that area's tests; below it, folders mirror the code.
AREAS = {
    "kit": "eldercare",
    "gateway": "gateway",
    "dispatch": "services/dispatch",
    "care_record": "services/care_record",
    "monitoring": "services/monitoring",
    "tools": "tools",
    "bench": "bench",
}
# Folders that are no one area's: fakes-only tests (unit/<area>/), journeys across services (e2e/),
# and the hostile-input and access checks, which run against every service at once.
ACROSS = {"unit", "e2e", "fuzz", "api_fuzz", "security"}


def _folders(path: Path) -> set[str]:
    return {child.name for child in path.iterdir() if child.is_dir() and child.name != "__pycache__"}


def _unmirrored(tests: Path, code: Path) -> list[str]:
    """Folders below an area's tests with no package or module of the same name in the area's code."""
    return sorted(
        str(folder.relative_to(tests))
        for folder in tests.rglob("*")
        if folder.is_dir()
        and folder.name != "__pycache__"
        and not (code / folder.relative_to(tests)).is_dir()
        and not (code / folder.relative_to(tests)).with_suffix(".py").is_file()
    )


def test_every_test_folder_is_an_area_of_the_code_or_spans_them() -> None:
    assert _folders(TESTS) - AREAS.keys() - ACROSS == set()
    assert _folders(TESTS / "unit") - AREAS.keys() == set()
    for area, code in AREAS.items():
        assert (REPO / code).is_dir(), f"tests/{area} mirrors {code}/, which is gone"


def test_folders_below_an_area_mirror_the_code() -> None:
    offenders = [
        f"{base.relative_to(REPO)}/{area}/{folder}"
        for base in (TESTS, TESTS / "unit")
        for area, code in AREAS.items()
        if (base / area).is_dir()
        for folder in _unmirrored(base / area, REPO / code)
    ]
    assert offenders == []


def test_the_mirror_check_finds_a_folder_the_code_lacks(tmp_path: Path) -> None:
    (tmp_path / "code" / "watch").mkdir(parents=True)
    (tmp_path / "code" / "payloads.py").write_text("")
    for folder in ("watch", "payloads", "ops"):
        (tmp_path / "tests" / folder).mkdir(parents=True)
    assert _unmirrored(tmp_path / "tests", tmp_path / "code") == ["ops"]


def _fixtures(conftest: Path) -> set[str]:
    """The fixtures a conftest defines (`@pytest.fixture(...)` or `@pytest_asyncio.fixture(...)`)."""
    tree = ast.parse(conftest.read_text(), filename=str(conftest))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(
            isinstance(target := (d.func if isinstance(d, ast.Call) else d), ast.Attribute) and target.attr == "fixture"
            for d in node.decorator_list
        )
    }


def _parametrized(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The argument names a function's `@pytest.mark.parametrize(...)` decorators fill in (not fixtures)."""
    names: set[str] = set()
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("parametrize") and decorator.args:
            first = decorator.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names |= {name.strip() for name in first.value.split(",")}
            elif isinstance(first, ast.Tuple | ast.List):
                names |= {e.value for e in first.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return names


def _real_stack_uses(path: Path, fixtures: set[str]) -> list[str]:
    """Where a test module asks for a real broker, database or platform, or starts one itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            asked = {a.arg for a in node.args.args + node.args.kwonlyargs} - _parametrized(node)
            found += [f"{node.name}({name})" for name in sorted(asked & fixtures)]
        elif isinstance(node, ast.ImportFrom) and (
            node.module == "tests.infra" or (node.module == "tests" and any(a.name == "infra" for a in node.names))
        ):
            found.append(f"line {node.lineno}: tests.infra")
    return found


def test_unit_tests_use_fakes_only() -> None:
    # tests/conftest.py's fixtures are the real stack (brokers, PostgreSQL, the platform): a test
    # that needs them belongs in tests/<area>/, where `make test` gives it the real thing.
    fixtures = _fixtures(TESTS / "conftest.py")
    assert {"mqtt_broker", "kafka_broker", "databases", "platform"} <= fixtures
    offenders = {
        str(path.relative_to(REPO)): uses
        for path in (TESTS / "unit").rglob("*.py")
        if (uses := _real_stack_uses(path, fixtures))
    }
    assert offenders == {}


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


def test_the_fakes_check_finds_a_real_broker(tmp_path: Path) -> None:
    test = tmp_path / "test_x.py"
    test.write_text(
        "import pytest\nfrom tests import infra\n\n"
        "def test_a(kafka_broker, tmp_path):\n    pass\n\n"
        "@pytest.mark.parametrize(('platform', 'x'), [])\ndef test_b(platform, x):\n    pass\n"
    )
    assert _real_stack_uses(test, {"kafka_broker", "platform"}) == ["line 2: tests.infra", "test_a(kafka_broker)"]


def test_the_preamble_check_finds_a_hand_written_decode(tmp_path: Path) -> None:
    handler = tmp_path / "handlers.py"
    handler.write_text("async def handle(record):\n    envelope = decode_record(record)\n")
    assert _preamble_calls(handler) == ["decode_record"]
