"""`python -m bench.kafka_startup`: what the pinned Kafka costs to fetch and to start, repeated.

Per repetition:
- cold resolve: the pom resolved into an empty cache with an empty Maven repository (the
  download a fresh machine makes, Maven's own plugins included);
- warm resolve: the same call again (what every later `make run` pays);
- first start: format plus start of a new single node, until it answers a metadata request;
- restart: the same node stopped and started on its data;
- RSS of the broker after its first start and after 20,000 records through it.

Writes bench/results/startup-<time>.json with every repetition and the median and range.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as platform_info
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tools import kafkanode

RESULTS = Path(__file__).resolve().parent / "results"


async def _until_metadata(bootstrap: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
        finally:
            await admin.close()


async def _load(bootstrap: str, records: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("startup.load", 6, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send("startup.load", b"x" * 200, key=str(n).encode()) for n in range(records)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def one_repetition(workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    lib = await asyncio.to_thread(
        kafkanode.ensure_jars, workdir / "cache", maven_repo=workdir / "m2", quiet=True
    )
    cold = time.monotonic() - started
    started = time.monotonic()
    await asyncio.to_thread(kafkanode.ensure_jars, workdir / "cache", maven_repo=workdir / "m2")
    warm = time.monotonic() - started
    downloaded_mb = sum(p.stat().st_size for p in (workdir / "m2").rglob("*") if p.is_file()) / 2**20
    [node] = kafkanode.make_cluster(workdir / "node", size=1)
    node.lib = lib
    started = time.monotonic()
    await asyncio.to_thread(node.start, wait=False)
    await _until_metadata(node.bootstrap)
    first_start = time.monotonic() - started
    rss_idle = (node.rss_bytes() or 0) / 2**20
    await _load(node.bootstrap, 20_000)
    rss_loaded = (node.rss_bytes() or 0) / 2**20
    await asyncio.to_thread(node.stop)
    started = time.monotonic()
    await asyncio.to_thread(node.start, wait=False)
    await _until_metadata(node.bootstrap)
    restart = time.monotonic() - started
    await asyncio.to_thread(node.stop)
    return {
        "cold_resolve_s": round(cold, 2),
        "downloaded_mb": round(downloaded_mb, 1),
        "warm_resolve_s": round(warm, 3),
        "first_start_s": round(first_start, 2),
        "restart_on_data_s": round(restart, 2),
        "rss_after_start_mb": round(rss_idle, 1),
        "rss_after_20k_records_mb": round(rss_loaded, 1),
        "heap": node.heap,
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_startup", description=__doc__)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for number in range(args.repetitions):
        workdir = Path(tempfile.mkdtemp(prefix="kafka-startup-"))
        try:
            runs.append(await one_repetition(workdir))
            print(f"repetition {number + 1}/{args.repetitions}: {runs[-1]}", flush=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    keys = [k for k, v in runs[0].items() if isinstance(v, float | int)]
    report = {
        "kind": "kafka-startup",
        "kafka": kafkanode.pinned_version(),
        "machine": {
            "python": platform_info.python_version(),
            "kernel": platform_info.release(),
            "cores": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
        },
        "summary": {key: spread([run[key] for run in runs]) for key in keys},
        "repetitions": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"startup-{time.strftime('%Y-%m-%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    asyncio.run(main())
