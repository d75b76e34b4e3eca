"""The raw baseline: `mosquitto_sub -v` lines on stdin, each forwarded to Kafka by librdkafka, nothing checked.

`python -m bench.raw_pipeline --bootstrap HOST:PORT --topic T --expect N` prints one JSON
line when N deliveries were acknowledged (or stdin ended): count, first/last ack times.
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson
from confluent_kafka import Producer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expect", type=int, required=True)
    args = parser.parse_args()
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "enable.idempotence": False,  # the local broker rejects it, as for the gateway
            "queue.buffering.max.messages": 200000,
        }
    )
    state = {"acked": 0, "failed": 0, "first": 0.0, "last": 0.0}

    def delivered(error: object, message: object) -> None:
        if error is not None:
            state["failed"] += 1
            return
        now = time.time()
        if not state["acked"]:
            state["first"] = now
        state["acked"] += 1
        state["last"] = now

    received = 0
    for line in sys.stdin.buffer:
        topic, _, payload = line.rstrip(b"\n").partition(b" ")
        key = topic.split(b"/")[3] if topic.count(b"/") >= 4 else None
        while True:
            try:
                producer.produce(args.topic, payload, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        received += 1
        if received >= args.expect:
            break
    producer.flush(60)
    sys.stdout.write(orjson.dumps({"received": received, **state}).decode() + "\n")


if __name__ == "__main__":
    main()
