"""Prometheus metrics shared by every process. Labels never carry personal data or device ids."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase


def child_of(metric: MetricWrapperBase) -> Callable[..., Any]:
    """`metric.labels`, memoised, for per-message paths: the child for a label value never changes,
    and `labels()` re-validates and locks on every call (a few per cent of the gateway's CPU)."""
    return functools.cache(metric.labels)


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

KAFKA_PRODUCED = Counter("eldercare_kafka_produced_total", "Records acknowledged by Kafka", ["topic"])
KAFKA_PRODUCE_ERRORS = Counter(
    "eldercare_kafka_produce_errors_total", "Produce attempts that failed and were retried", ["topic"]
)
KAFKA_PRODUCE_SECONDS = Histogram(
    "eldercare_kafka_produce_seconds",
    "Time from send to broker acknowledgement",
    ["topic"],
    buckets=LATENCY_BUCKETS,
)
KAFKA_CONSUMED = Counter(
    "eldercare_kafka_consumed_total", "Records handled by a consumer", ["consumer", "topic", "outcome"]
)
KAFKA_HANDLE_SECONDS = Histogram(
    "eldercare_kafka_handle_seconds",
    "Time to apply one record, database transaction included",
    ["consumer", "topic"],
    buckets=LATENCY_BUCKETS,
)
KAFKA_CONSUMER_LAG = Gauge(
    "eldercare_kafka_consumer_lag_records",
    "High-water mark minus the next offset to handle, per partition",
    ["consumer", "topic", "partition"],
)
KAFKA_CONSUMER_LAG_SECONDS = Gauge(
    "eldercare_kafka_consumer_lag_seconds",
    "Age (now minus its Kafka timestamp) of the oldest record fetched and not yet applied; 0 when none waits."
    " Computed when scraped, so it keeps rising while a handler is stuck",
    ["consumer", "topic"],
)
KAFKA_HANDLERS_RETRYING = Gauge(
    "eldercare_kafka_handlers_retrying",
    "Records whose handler failed and is being retried right now (0 when every handler succeeds)",
    ["consumer"],
)
KAFKA_HANDLER_RETRIES = Counter(
    "eldercare_kafka_handler_retries_total",
    "Records whose handling failed and was retried",
    ["consumer", "topic"],
)
DEAD_LETTERS = Counter(
    "eldercare_deadletters_total", "Records written to the dead-letter topic", ["producer", "reason"]
)
DEAD_LETTERS_CUT = Counter(
    "eldercare_deadletters_cut_total",
    "Dead letters whose payload was too large to keep whole: written with its first bytes and its sha256",
    ["producer", "reason"],
)
OUTBOX_RELAYED = Counter("eldercare_outbox_relayed_total", "Outbox rows published to Kafka", ["topic"])
OUTBOX_PENDING = Gauge(
    "eldercare_outbox_pending_rows", "Outbox rows not yet published (counted after a full or failed relay round)"
)
OUTBOX_DELAY_SECONDS = Histogram(
    "eldercare_outbox_delay_seconds",
    "From an outbox row's write (inside its transaction) to Kafka's ack of it",
    buckets=LATENCY_BUCKETS,
)
DB_TRANSACTION_SECONDS = Histogram(
    "eldercare_db_transaction_seconds",
    "Database transaction latency",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)

kafka_produced_to = child_of(KAFKA_PRODUCED)
kafka_produce_seconds_to = child_of(KAFKA_PRODUCE_SECONDS)

INBOX_PRUNED = Counter(
    "eldercare_inbox_pruned_total",
    "Inbox rows forgotten because they were older than the dedup window (ELDERCARE_DEDUP_WINDOW_SECONDS)",
    ["service"],
)
RETENTION_PRUNED = Counter(
    "eldercare_retention_pruned_total",
    "Rows deleted because they outlived their table's retention setting",
    ["service", "table"],
)
