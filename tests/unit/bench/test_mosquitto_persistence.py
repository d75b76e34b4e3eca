"""The persistence bench's settings: the row it calls production is production's, and each config says what it means."""

from __future__ import annotations

import re
from pathlib import Path

from bench.mosquitto_persistence import SETTINGS
from eldercare.settings import REPO_ROOT


def test_the_production_row_measures_the_interval_production_runs() -> None:
    production = (REPO_ROOT / "infra" / "mosquitto" / "mosquitto.conf").read_text()
    interval = re.search(r"^autosave_interval\s+(\d+)", production, re.MULTILINE)
    assert interval is not None
    assert "autosave_on_changes true" not in production
    [row] = [s for s in SETTINGS if "production" in s.name]
    assert (row.interval, row.on_changes) == (int(interval.group(1)), False)


def test_each_setting_writes_its_own_save_rule_once_and_persists_to_its_data_dir() -> None:
    for setting in SETTINGS:
        config = setting.config(port=1883, data_dir=Path("/data/x"))
        assert config.count("autosave_interval") == 1
        assert f"autosave_interval {setting.interval}\n" in config
        assert f"autosave_on_changes {'true' if setting.on_changes else 'false'}\n" in config
        assert "persistence true\n" in config and "persistence_location /data/x/\n" in config
