"""The board of platform alerts Alertmanager sent to dispatch's webhook.

In memory on purpose: the alert that matters most here is "dispatch's database is down", and a
webhook that had to write to that database would refuse exactly that alert. Alertmanager is the
durable record: it retries a delivery that failed and repeats firing alerts every
`repeat_interval` (infra/alertmanager/), so a restarted dispatch is told again within minutes.
Each replica keeps its own board; Alertmanager's webhook reaches one replica per URL.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Alertmanager's severity label values that page a person (the rules use `page`).
CRITICAL_SEVERITIES = frozenset({"page", "critical"})
MAX_ALERTS = 500


@dataclass
class PlatformAlert:
    fingerprint: str
    name: str
    status: str  # firing | resolved
    severity: str
    summary: str
    labels: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    received_at: datetime
    sequence: int = 0  # board-wide order of changes, for the streams' cursors

    @property
    def critical(self) -> bool:
        return self.severity in CRITICAL_SEVERITIES

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "alert": self.name,
            "status": self.status,
            "severity": self.severity,
            "critical": self.critical,
            "summary": self.summary,
            "labels": self.labels,
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "received_at": self.received_at.isoformat(),
        }


@dataclass
class PlatformAlertBoard:
    """The latest state of each alert (by Alertmanager's fingerprint), bounded, newest change last."""

    max_alerts: int = MAX_ALERTS
    _alerts: collections.OrderedDict[str, PlatformAlert] = field(default_factory=collections.OrderedDict)
    _sequence: int = 0
    _changed: asyncio.Event | None = None

    def record(self, alerts: list[PlatformAlert]) -> list[PlatformAlert]:
        """Store what Alertmanager says now; returns the alerts that changed (a repeat changes nothing)."""
        changed = []
        for alert in alerts:
            known = self._alerts.get(alert.fingerprint)
            if known is not None and (known.status, known.summary, known.ends_at) == (
                alert.status,
                alert.summary,
                alert.ends_at,
            ):
                continue
            self._sequence += 1
            alert.sequence = self._sequence
            self._alerts.pop(alert.fingerprint, None)
            self._alerts[alert.fingerprint] = alert
            changed.append(alert)
        self._evict()
        if changed and self._changed is not None:
            self._changed.set()
            self._changed = None
        return changed

    def _evict(self) -> None:
        """Over the bound, resolved alerts go first (oldest change first), then the oldest firing ones."""
        while len(self._alerts) > self.max_alerts:
            resolved = next((key for key, alert in self._alerts.items() if alert.status == "resolved"), None)
            self._alerts.pop(resolved if resolved is not None else next(iter(self._alerts)))

    def alerts(self, *, status: str | None = None, critical_only: bool = False) -> list[PlatformAlert]:
        """Newest change first."""
        return [
            alert
            for alert in reversed(self._alerts.values())
            if (status is None or alert.status == status) and (not critical_only or alert.critical)
        ]

    @property
    def sequence(self) -> int:
        return self._sequence

    def changes_after(self, sequence: int) -> list[PlatformAlert]:
        """Critical alerts changed after `sequence`, oldest change first (what a stream has not shown)."""
        return sorted(
            (alert for alert in self._alerts.values() if alert.sequence > sequence and alert.critical),
            key=lambda alert: alert.sequence,
        )

    def changed(self) -> asyncio.Event:
        """An event set at the next change (take it before looking, so no change is missed)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed
