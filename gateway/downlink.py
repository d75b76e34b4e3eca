"""Downlink: commands from Kafka to devices over MQTT (docs/device-contract.md).

A consumer of the commands topic publishes each command to
`eldercare/v1/devices/{device_id}/commands` with QoS 1 and commits the Kafka offset
only after the broker's PUBACK, so a gateway crash re-sends rather than loses a
command. Devices drop repeats by `command_id` (dispatch also retries unacked ones).
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import ConsumerRecord
from prometheus_client import Counter

from eldercare.envelope import from_timestamp
from eldercare.kafka import ConsumerLoop, DeadLetterPublisher, PoisonRecord, decode_record
from eldercare.runtime import start_with_retry
from eldercare.tasks import cancel_and_wait
from eldercare.topics import COMMANDS
from eldercare.v1 import events_pb2 as pb
from gateway.config import GatewaySettings
from gateway.mqtt import MqttSession, mqtt_tls
from gateway.payloads import DEVICE_ID_PATTERN, TOPIC_PREFIX

log = logging.getLogger(__name__)

DOWNLINK_CONSUMER = "gateway-downlink"
COMMANDS_RELAYED = Counter("gateway_commands_relayed_total", "Downlink commands published to devices", ["type"])


def command_payload(envelope: pb.Envelope) -> tuple[str, bytes]:
    """The MQTT topic and JSON payload of a command envelope; PoisonRecord when it cannot be one."""
    if envelope.WhichOneof("body") != "command":
        raise PoisonRecord("not_a_command", f"envelope body is {envelope.WhichOneof('body')!r}")
    command = envelope.command
    device_id = command.device_id or envelope.device_id
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise PoisonRecord("invalid_device_id", "command names no valid device id")
    if not command.command_id or not command.type:
        raise PoisonRecord("invalid_command", "command needs command_id and type")
    document: dict[str, object] = {"command_id": command.command_id, "type": command.type}
    if command.text:
        document["text"] = command.text
    if command.callback_number:
        document["callback_number"] = command.callback_number
    if command.incident_id:
        document["incident_id"] = command.incident_id
    document["attempt"] = max(command.attempt, 1)
    if command.HasField("issued_at"):
        document["issued_at"] = from_timestamp(command.issued_at).isoformat().replace("+00:00", "Z")
    return f"{TOPIC_PREFIX}{device_id}/commands", orjson.dumps(document)


class Downlink:
    """Relays the commands topic to devices, one MQTT session of its own."""

    def __init__(self, settings: GatewaySettings, dead_letters: DeadLetterPublisher) -> None:
        self.session = MqttSession(
            url=settings.mqtt_url,
            client_id=f"eldercare-gw-{settings.instance_id}-downlink",
            persistent=False,
            manual_ack=False,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            **mqtt_tls(settings),
        )
        self._joining: asyncio.Task[None] | None = None
        self.consumer = ConsumerLoop(
            settings=settings,
            name=DOWNLINK_CONSUMER,
            topics=[COMMANDS],
            handler=self._relay,
            dead_letters=dead_letters,
        )

    async def start(self) -> None:
        """Connect to the broker and join the commands consumer group in the background.

        Joining can take a while (a rebalance waits for a departed member's session to
        expire), and the lanes must not wait for it: a gateway takes
        SOS as soon as its MQTT sessions and producers are up.
        """
        await self.session.start()
        self._joining = asyncio.create_task(
            start_with_retry("kafka (downlink)", self.consumer.start), name="gateway-downlink-join"
        )

    async def stop(self) -> None:
        if self._joining is not None and not self._joining.done():
            await cancel_and_wait(self._joining)
        await self.consumer.stop()
        await self.session.stop()

    async def _relay(self, record: ConsumerRecord) -> None:
        envelope = decode_record(record)
        topic, payload = command_payload(envelope)
        # Raising here makes the consumer loop retry with backoff; the offset stays uncommitted.
        await asyncio.wait_for(self.session.connected.wait(), timeout=10)
        await self.session.publish(topic, payload, qos=1, timeout=10)
        COMMANDS_RELAYED.labels(envelope.command.type if len(envelope.command.type) <= 16 else "other").inc()
