"""The watch adapter's HTTP face: health, readiness and metrics, with the TCP server in its lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from eldercare.http import install_error_handlers, ops_router
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

    app = FastAPI(title="Eldercare watch adapter", version="1.0.0", lifespan=lifespan)
    app.state.gateway = gateway
    app.include_router(ops_router(lambda: [("listener", gateway.check_listener), ("kafka", gateway.check_kafka)]))
    install_error_handlers(app)
    return app
