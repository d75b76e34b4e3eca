"""Does the broker's ACL grant the gateway's account what the gateway needs? Asked by a round trip.

Mosquitto (2.0) grants a subscription whatever its ACL says and applies the ACL only when it
delivers; and it drops a refused publish without telling a v3/v5 client that anything went
wrong. A GATEWAY_MQTT_USERNAME the ACL's `user` block does not name therefore looked healthy:
connected, subscribed, and receiving nothing. The probe publishes a nonce to a commands topic
(the grant the downlink and receipts need) and waits for it on a subscription under the device
tree (the grant the lanes need): the one message arrives only when both are granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

import paho.mqtt.client as mqtt

from gateway.config import GatewaySettings
from gateway.mqtt import MqttSession

log = logging.getLogger(__name__)

# Under the device tree, for `gateway`: an account name the provisioning tool refuses as a device id,
# so no device reads it; the lanes ignore commands topics.
PROBE_TOPIC = "eldercare/v1/devices/gateway/commands"
NEEDED_GRANTS = "`topic read eldercare/v1/devices/#` and `topic write eldercare/v1/devices/+/commands`"


def acl_problem_text(user: str | None, what: str) -> str:
    """The disagreement in words that name the account and the grants it lacks."""
    name = repr(user) if user else "(anonymous)"
    return (
        f"MQTT user {name}: {what}; the broker's ACL must grant this user {NEEDED_GRANTS} "
        "(infra/mosquitto/acl grants them to `user gateway`): set GATEWAY_MQTT_USERNAME to that "
        "account or name this one in the ACL"
    )


async def probe_acl(settings: GatewaySettings, *, timeout: float = 5.0) -> str | None:
    """Why the account lacks its grants; None when it has them, or when the broker cannot be reached
    (the connection check says that)."""
    nonce = secrets.token_hex(8).encode()
    arrived = asyncio.Event()

    def received(message: mqtt.MQTTMessage) -> None:
        if bytes(message.payload) == nonce:
            arrived.set()

    session = MqttSession(
        url=settings.mqtt_url,
        client_id=f"eldercare-gw-{settings.instance_id}-acl-probe",
        subscriptions=[PROBE_TOPIC],
        on_message=received,
        persistent=False,
        manual_ack=False,
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
    )
    await session.start()
    try:
        try:
            await session.wait_ready(timeout=timeout)
        except TimeoutError:
            if session.subscription_refused:
                return acl_problem_text(
                    settings.mqtt_username, f"subscription refused ({session.subscription_refused})"
                )
            return None
        try:
            await session.publish(PROBE_TOPIC, nonce, qos=1, timeout=timeout)
        except Exception as exc:  # a v5 PUBACK with a refusal reason, or none at all
            return acl_problem_text(settings.mqtt_username, f"publishing to {PROBE_TOPIC} failed ({exc})")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), timeout)
            return None
        if not session.connected.is_set():
            return None  # the broker went away mid-probe: not the ACL's doing
        return acl_problem_text(
            settings.mqtt_username,
            f"a message it published to {PROBE_TOPIC} did not come back on its subscription there",
        )
    finally:
        await session.stop()
