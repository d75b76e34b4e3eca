"""A gateway is ready only when the broker granted its subscriptions, and /readyz says why when not.

Connected is not enough: a session the broker accepted but whose subscription it refused (or
downgraded to QoS 0, which loses what arrives while the gateway is away) receives no alarm, yet
looked healthy to every probe and alert before.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY

from eldercare.http import ops_router
from gateway import metrics
from gateway.app import Gateway
from gateway.config import GatewaySettings
from gateway.mqtt import MqttSession
from tests.gateway.test_mqtt_session import broker
from tests.platform import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def readiness_app(gateway: Gateway) -> FastAPI:
    """The gateway's own /readyz, with only its MQTT check (this test starts no Kafka producer)."""
    app = FastAPI()
    app.include_router(ops_router(lambda: [("mqtt", gateway.check_mqtt)]))
    return app


@pytest.mark.parametrize(("extra", "ready"), [("", True), ("max_qos 0\n", False)], ids=["granted", "downgraded"])
async def test_readiness_follows_the_suback(tmp_path: Path, extra: str, ready: bool) -> None:
    with broker(tmp_path, extra=extra) as mosquitto:
        settings = GatewaySettings(
            mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}", lanes="alarms", instance_id=f"readiness-{ready}"
        )
        gateway = Gateway(settings)
        alarms = gateway.sessions["alarms"]
        metrics.MQTT_SUBSCRIBED.labels("alarms").set_function(alarms.subscribed.is_set)
        await alarms.start()
        try:
            async with AsyncClient(transport=ASGITransport(app=readiness_app(gateway)), base_url="http://g") as http:
                # The SUBACK has come either way: granted (subscribed) or refused (a reason recorded).
                await eventually(lambda: _answered(alarms), timeout=10)
                response = await http.get("/readyz")
            subscribed = REGISTRY.get_sample_value("gateway_mqtt_subscribed", {"session": "alarms"})
            if ready:
                assert response.status_code == 200, response.text
                assert subscribed == 1
            else:
                assert response.status_code == 503
                reason = response.json()["checks"]["mqtt"]
                assert "refused the subscription" in reason and "granted QoS 0, not 1" in reason, reason
                assert "eldercare/v1/devices/+/sos" in reason
                assert alarms.connected.is_set() and subscribed == 0
        finally:
            await alarms.stop()


async def _answered(session: MqttSession) -> bool:
    return bool(session.subscribed.is_set() or session.subscription_refused)
