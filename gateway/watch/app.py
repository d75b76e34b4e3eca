"""The watch adapter's HTTP face: health, readiness and metrics, with the TCP server in its lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from eldercare.http import ops_app
from gateway.watch.config import WatchSettings
from gateway.watch.server import WatchGateway

log = logging.getLogger(__name__)


def create_app(settings: WatchSettings | None = None) -> FastAPI:
    settings = settings or WatchSettings()
    gateway = WatchGateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        log.info("watch adapter ready on http://%s:%s", settings.http_host, settings.http_port)
        try:
            yield
        finally:
            await gateway.stop()

    return ops_app(
        title="Eldercare watch adapter",
        lifespan=lifespan,
        checks=lambda: [("listener", gateway.check_listener), ("kafka", gateway.check_kafka)],
        gateway=gateway,
    )
