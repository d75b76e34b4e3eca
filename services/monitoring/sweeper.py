"""The periodic sweep: offline detection (held while a gateway has no broker), inactivity check-ins, gauges."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text

from eldercare.db import timed_transaction
from eldercare.envelope import utcnow
from eldercare.runtime import ServiceRuntime
from services.monitoring import metrics
from services.monitoring.alert import service as alerts
from services.monitoring.config import MonitoringSettings
from services.monitoring.device import service

log = logging.getLogger(__name__)

_SWEEP_LOCK = 0x6D6F6E73  # one sweeper at a time across replicas (PostgreSQL advisory lock)


class Sweeper:
    """Runs the time-based rules every `sweep_interval_seconds`."""

    def __init__(self, runtime: ServiceRuntime, settings: MonitoringSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.budget = service.AlertBudget(per_minute=settings.offline_alerts_per_minute)
        self._gateway_was_down = False
        self._held_until: datetime | None = None

    async def run(self) -> None:
        """Sweep forever; a failed sweep is logged and retried on the next tick."""
        # The gateways may serve HTTPS with the platform's own CA (HTTP_CA_FILE); their certificate is verified.
        async with httpx.AsyncClient(timeout=1.0, verify=self.settings.http_verify()) as client:
            while True:
                await asyncio.sleep(self.settings.sweep_interval_seconds)
                try:
                    await self.sweep_once(client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("sweep failed; next tick retries")

    async def gateway_reports_broker_down(self, client: httpx.AsyncClient) -> bool:
        """True when a gateway answers and says its MQTT session is down; an unreachable gateway tells nothing."""
        for url in self.settings.gateway_health_urls():
            try:
                response = await client.get(url + "/readyz")
                checks = response.json().get("checks", {})
            except (httpx.HTTPError, ValueError, AttributeError):
                continue
            if str(checks.get("mqtt", "ok")) != "ok":
                return True
        return False

    async def sweep_once(self, client: httpx.AsyncClient) -> None:
        now = utcnow()
        down = await self.gateway_reports_broker_down(client)
        if down:
            self._gateway_was_down = True
        elif self._gateway_was_down:
            # Devices need time to reconnect and report before silence means anything.
            self._gateway_was_down = False
            self._held_until = now + timedelta(seconds=self.settings.offline_floor_seconds)
            log.info("gateway has its broker back; offline detection resumes after %s", self._held_until)
        held = down or (self._held_until is not None and now < self._held_until)
        metrics.OFFLINE_DETECTION_HELD.set(1 if held else 0)
        with metrics.SWEEP_SECONDS.time():
            async with timed_transaction(self.runtime.sessions, "monitoring_sweep") as session:
                if session.get_bind().dialect.name == "postgresql":
                    locked = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SWEEP_LOCK})
                    if not locked:
                        return
                if held:
                    until = self._held_until if self._held_until and not down else now
                    await service.postpone_offline_detection(
                        session, until=until + timedelta(seconds=self.settings.sweep_interval_seconds)
                    )
                else:
                    # Both rules read silence as meaning something, which it does not while data cannot flow.
                    await service.sweep_offline(session, now=now, settings=self.settings, budget=self.budget)
                    await service.sweep_inactivity(session, now=now, settings=self.settings)
                await service.refresh_gauges(session, settings=self.settings)
        alerts.count_committed(session)
