"""FastReceiveClient delivers exactly what stock paho delivers, from the same bytes on a socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.mqtt import FastReceiveClient


def publish_packet(*, topic: bytes, payload: bytes, qos: int, mid: int, props: bytes, dup: bool, retain: bool) -> bytes:
    """One MQTT v5 PUBLISH, encoded by hand so the test does not trust either decoder."""
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    body += bytes([len(props)]) + props + payload
    header = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    remaining, length = b"", len(body)
    while True:
        byte, length = length % 128, length // 128
        remaining += bytes([byte | (0x80 if length else 0)])
        if not length:
            return bytes([header]) + remaining + body


class Wired:
    """A paho client whose socket is one end of a socketpair; the test writes broker bytes into the other."""

    def __init__(self, client_class: type[mqtt.Client], *, manual_ack: bool = True) -> None:
        self.client = client_class(
            mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5, manual_ack=manual_ack
        )
        self.ours, self.broker = socket.socketpair()
        self.ours.setblocking(False)
        self.client._sock = self.ours
        self.received: list[dict[str, Any]] = []
        self.client.on_message = lambda _c, _u, m: self.received.append(describe(m))

    def feed(self, data: bytes) -> None:
        self.broker.sendall(data)
        assert self.client.loop_read() == mqtt.MQTT_ERR_SUCCESS

    def broker_got(self) -> bytes:
        self.client.loop_write()
        self.broker.setblocking(False)
        try:
            return self.broker.recv(65536)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        self.client._sock = None
        self.ours.close()
        self.broker.close()


def describe(message: mqtt.MQTTMessage) -> dict[str, Any]:
    properties = message.properties
    return {
        "topic": message.topic,
        "payload": bytes(message.payload),
        "qos": message.qos,
        "mid": message.mid,
        "dup": message.dup,
        "retain": message.retain,
        # stock paho attaches an empty Properties to every v5 PUBLISH; the fast path attaches none
        "properties": None if properties is None or properties.isEmpty() else properties.json(),
    }


@pytest.fixture
def pair() -> Iterator[tuple[Wired, Wired]]:
    wired = (Wired(FastReceiveClient), Wired(mqtt.Client))
    yield wired
    for w in wired:
        w.close()


PROPERTY_BLOCKS = st.sampled_from(
    [
        b"",  # what devices send
        b"\x01\x01",  # payload format indicator = 1
        b"\x02\x00\x00\x00\x3c",  # message expiry interval 60 s
        b"\x26\x00\x01k\x00\x01v",  # user property k=v
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    topic=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"), min_size=1, max_size=60),
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=8),
    qos=st.sampled_from([0, 1]),
    props=PROPERTY_BLOCKS,
    dup=st.booleans(),
    retain=st.booleans(),
    split=st.integers(min_value=0, max_value=10_000),
)
def test_same_messages_as_stock_paho(
    topic: str, payloads: list[bytes], qos: int, props: bytes, dup: bool, retain: bool, split: int
) -> None:
    stream = b"".join(
        publish_packet(
            topic=topic.encode(), payload=p, qos=qos, mid=i + 1, props=props, dup=dup and qos > 0, retain=retain
        )
        for i, p in enumerate(payloads)
    )
    cut = split % (len(stream) + 1)  # the packets may arrive in two reads, split anywhere
    fast, stock = Wired(FastReceiveClient), Wired(mqtt.Client)
    try:
        for wired in (fast, stock):
            wired.feed(stream[:cut])
            if cut < len(stream):
                wired.feed(stream[cut:])
        # stock paho reads one packet per loop_read; give it the calls it needs
        for _ in payloads:
            stock.client.loop_read()
        assert fast.received == stock.received
        assert len(fast.received) == len(payloads)
    finally:
        fast.close()
        stock.close()


def test_one_read_delivers_every_buffered_packet(pair: tuple[Wired, Wired]) -> None:
    fast, stock = pair
    burst = b"".join(
        publish_packet(topic=b"t/x", payload=b"%d" % i, qos=1, mid=i + 1, props=b"", dup=False, retain=False)
        for i in range(50)
    )
    fast.feed(burst)
    stock.feed(burst)
    assert [m["payload"] for m in fast.received] == [b"%d" % i for i in range(50)]
    assert len(stock.received) == 1  # what select-per-packet paho does with the same call


def test_automatic_puback_when_not_acking_manually() -> None:
    wired = Wired(FastReceiveClient, manual_ack=False)
    try:
        wired.feed(publish_packet(topic=b"t", payload=b"p", qos=1, mid=513, props=b"", dup=False, retain=False))
        assert wired.broker_got() == bytes([0x40, 0x02, 0x02, 0x01])  # PUBACK for mid 513
    finally:
        wired.close()


def test_manual_ack_sends_nothing_until_acked(pair: tuple[Wired, Wired]) -> None:
    fast, _ = pair
    fast.feed(publish_packet(topic=b"t", payload=b"p", qos=1, mid=7, props=b"", dup=False, retain=False))
    assert fast.broker_got() == b""
    fast.client.ack(7, 1)
    assert fast.broker_got() == bytes([0x40, 0x02, 0x00, 0x07])


def test_ack_many_is_the_same_pubacks_in_one_write(pair: tuple[Wired, Wired]) -> None:
    fast, stock = pair
    for wired in pair:
        wired.feed(
            b"".join(
                publish_packet(topic=b"t", payload=b"p", qos=1, mid=mid, props=b"", dup=False, retain=False)
                for mid in (5, 300, 70)
            )
        )
    for mid in (300, 5, 70):
        stock.client.ack(mid, 1)
    assert fast.client.ack_many([300, 5, 70]) == mqtt.MQTT_ERR_SUCCESS
    assert fast.broker_got() == stock.broker_got() == bytes.fromhex("4002012c4002000540020046")


def test_filtered_callbacks_still_route(pair: tuple[Wired, Wired]) -> None:
    fast, _ = pair
    routed: list[str] = []
    fast.client.message_callback_add("alarms/#", lambda _c, _u, m: routed.append(m.topic))
    fast.feed(
        publish_packet(topic=b"alarms/sos", payload=b"!", qos=1, mid=1, props=b"", dup=False, retain=False)
        + publish_packet(topic=b"telemetry/x", payload=b".", qos=1, mid=2, props=b"", dup=False, retain=False)
    )
    assert routed == ["alarms/sos"]
    assert [m["topic"] for m in fast.received] == ["telemetry/x"]


def test_peer_close_is_a_lost_connection(pair: tuple[Wired, Wired]) -> None:
    fast, _ = pair
    fast.broker.close()
    assert fast.client.loop_read() == mqtt.MQTT_ERR_CONN_LOST
