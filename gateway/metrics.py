"""Gateway metrics (labels: kind, reason, lane, session — never a device id)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from eldercare.metrics import LATENCY_BUCKETS, child_of

RECEIVED = Counter("gateway_messages_received_total", "MQTT messages received", ["kind"])
PRODUCED = Counter("gateway_messages_produced_total", "Events acknowledged by Kafka", ["kind"])
REJECTED = Counter("gateway_messages_rejected_total", "Messages dead-lettered instead of forwarded", ["reason"])
SALVAGED = Counter(
    "gateway_alarms_salvaged_total",
    "SOS/fall alarms raised from a payload that broke the contract (also dead-lettered)",
    ["kind"],
)
COALESCED = Counter(
    "gateway_alarms_coalesced_total",
    "Alarm repeats from one device within the coalescing window, counted into one event instead of forwarded",
    ["kind"],
)
DEAD_LETTERS_SUPPRESSED = Counter(
    "gateway_deadletters_suppressed_total",
    "Rejections over a device's dead-letter cap: counted, not written (the first ones of a flood are)",
    ["reason"],
)
PRODUCE_SECONDS = Histogram(
    "gateway_produce_seconds", "MQTT receipt to Kafka acknowledgement", ["lane"], buckets=LATENCY_BUCKETS
)
MQTT_CONNECTED = Gauge("gateway_mqtt_connected", "1 while the session is connected to the broker", ["session"])
MQTT_SUBSCRIBED = Gauge(
    "gateway_mqtt_subscribed",
    "1 while the broker has granted every subscription of the session (0: disconnected, or refused, e.g. by the ACL)",
    ["session"],
)
IN_FLIGHT = Gauge("gateway_in_flight_messages", "Messages received but not yet acknowledged", ["lane"])

# Memoised children for the per-message path.
received_as = child_of(RECEIVED)
produced_as = child_of(PRODUCED)
produce_seconds_in = child_of(PRODUCE_SECONDS)
in_flight_in = child_of(IN_FLIGHT)
