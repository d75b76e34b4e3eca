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
        missing = [name for name in ("app.py", "config.py", "deps.py", "metrics.py") if not (root / name).exists()]
        assert not missing, f"services/{service} lacks {missing}"
        assert (root / "migrations").is_dir(), f"services/{service} has no migrations/"


def test_the_app_state_check_finds_a_view_that_reads_it(tmp_path: Path) -> None:
    view = tmp_path / "views.py"
    view.write_text("def f(request):\n    return request.app.state.settings\n")
    assert _reads_app_state(view) == [2]
