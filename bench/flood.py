"""The flood phase: one device's stuck button against everyone else's SOS, repeated.

Each repetition floods one fresh device's sos topic with 20,000 broken payloads from a C
publisher (mosquitto_pub -l, as the fault suite's scenario 10 does) while other devices,
connected beforehand as real ones are, press SOS at a steady pace. For every other SOS it
records publish -> incident committed (dispatch's own `opened_at`, same host clock) and
publish -> the `opened` event on Kafka (after the outbox relay) and on the dispatcher's live
stream. The target (issue: one device cannot delay anyone else's SOS) is every other SOS an
incident within 1 s, none lost, and the flooding device one incident counting every press.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from bench.stats import median_range
from tests.platform import flood_sos
from tools.sim.protocol import DeviceConnection, open_device

if TYPE_CHECKING:
    from bench.harness import BenchPlan, Environment, IncidentWatcher, StreamWatcher
    from tests.platform import Platform

TARGET_S = 1.0


async def _connected(port: int, device_ids: list[str]) -> dict[str, DeviceConnection]:
    connections = await asyncio.gather(
        *(open_device("127.0.0.1", port, f"probe-{d}", clean_session=True) for d in device_ids)
    )
    return dict(zip(device_ids, connections, strict=True))


async def _incident_of(stack: Platform, device_id: str, *, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await stack.incidents_for(device_id)
        if found:
            return found[0]
        await asyncio.sleep(0.2)
    return None


async def flood_once(
    env: Environment,
    stack: Platform,
    watcher: IncidentWatcher,
    stream: StreamWatcher,
    *,
    presses: int,
    others: int,
    interval_s: float,
    tag: str,
) -> dict[str, Any]:
    """One flood with `others` SOS pressed `interval_s` apart while it lasts; what each of them waited."""
    flooder = f"FLOOD{tag}"
    device_ids = [f"OTHER{tag}{n:03d}" for n in range(others)]
    connections = await _connected(env.mqtt.port, device_ids)
    sent: dict[str, float] = {}
    during_flood: dict[str, bool] = {}
    publisher = await flood_sos(env.mqtt_url, flooder, presses)
    flood_started = time.monotonic()
    try:
        # The first press lands well inside the burst: the flood's own first alarm goes through at once.
        await asyncio.sleep(0.2)
        for device_id in device_ids:
            during_flood[device_id] = publisher.returncode is None
            sent[device_id] = time.time()
            payload = orjson.dumps({"event_id": f"sos-{tag}", "ts": int(sent[device_id] * 1000)})
            await connections[device_id].publish(f"eldercare/v1/devices/{device_id}/sos", payload, time.monotonic())
            await asyncio.sleep(interval_s)
        _, errors = await publisher.communicate()
        flood_seconds = time.monotonic() - flood_started
    finally:
        for conn in connections.values():
            conn.close()
    if publisher.returncode != 0:
        raise RuntimeError(f"mosquitto_pub failed: {errors.decode(errors='replace')}")
    committed: dict[str, float] = {}
    lost = []
    for device_id in device_ids:
        incident = await _incident_of(stack, device_id, timeout=30)
        if incident is None:
            lost.append(device_id)
            continue
        committed[device_id] = datetime.fromisoformat(incident["opened_at"]).timestamp() - sent[device_id]
    # The opened events follow the commits through the outbox relay: wait for them (bounded) before reading.
    deadline = time.monotonic() + 15
    while not all(d in watcher.opened for d in committed) and time.monotonic() < deadline:  # noqa: ASYNC110 - a dict another task fills
        await asyncio.sleep(0.05)
    kafka = {d: watcher.opened[d] - sent[d] for d in device_ids if d in watcher.opened}
    streamed = {
        d: stream.seen[watcher.incident_of[d]] - sent[d]
        for d in device_ids
        if d in watcher.incident_of and watcher.incident_of[d] in stream.seen
    }
    # Every press on the flooding device ends up counted on its one incident once its windows close.
    flood_incidents: list[dict[str, Any]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        flood_incidents = await stack.incidents_for(flooder)
        if len(flood_incidents) == 1 and flood_incidents[0]["alarm_count"] >= presses:
            break
        await asyncio.sleep(0.5)
    return {
        "flood_presses": presses,
        "flood_seconds": round(flood_seconds, 2),
        "others": others,
        "others_pressed_during_flood": sum(during_flood.values()),
        "others_lost": lost,
        "commit_s": sorted(round(v, 3) for v in committed.values()),
        "kafka_opened_s": sorted(round(v, 3) for v in kafka.values()),
        "stream_s": sorted(round(v, 3) for v in streamed.values()),
        "max_commit_s": round(max(committed.values()), 3) if committed else None,
        "within_target": len(committed) == others and all(v <= TARGET_S for v in committed.values()),
        "flooding_device_incidents": len(flood_incidents),
        "flooding_device_alarm_count": flood_incidents[0]["alarm_count"] if flood_incidents else 0,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and range over the repetitions, and every other SOS's wait pooled."""
    pooled = sorted(v for run in runs for v in run["commit_s"])
    maxima = [run["max_commit_s"] for run in runs if run["max_commit_s"] is not None]

    def at(q: float) -> float | None:
        return pooled[min(len(pooled) - 1, int(q * len(pooled)))] if pooled else None

    return {
        "repetitions": len(runs),
        "other_sos": len(pooled),
        "other_sos_lost": sum(len(run["others_lost"]) for run in runs),
        "commit_p50_s": at(0.5),
        "commit_p99_s": at(0.99),
        "commit_max_s": pooled[-1] if pooled else None,
        # each run's own maximum is already in its `max_commit_s`
        "per_run_max_s": {k: v for k, v in median_range(maxima).items() if k != "runs"},
        "runs_within_target": sum(run["within_target"] for run in runs),
        "target_s": TARGET_S,
        "flooding_device_one_incident_every_press": all(
            run["flooding_device_incidents"] == 1 and run["flooding_device_alarm_count"] == run["flood_presses"]
            for run in runs
        ),
    }


async def measure_flood(env: Environment, plan: BenchPlan) -> dict[str, Any]:
    """`plan.flood_repetitions` floods against one running platform, each with fresh devices."""
    from bench.harness import start_stack, watching

    stack = await start_stack(env, ("gateway", "dispatch", "care-record", "monitoring"), plan.gateway_processes)
    runs = []
    async with watching(env, stack) as (watcher, stream):
        for number in range(plan.flood_repetitions):
            tag = f"{number}{uuid.uuid4().hex[:6]}"
            run = await flood_once(
                env,
                stack,
                watcher,
                stream,
                presses=plan.flood_presses,
                others=plan.flood_others,
                interval_s=plan.flood_interval_s,
                tag=tag,
            )
            print(
                f"flood {number + 1}/{plan.flood_repetitions}: {run['flood_presses']} presses in "
                f"{run['flood_seconds']} s; {run['others_pressed_during_flood']}/{run['others']} other SOS "
                f"during it; slowest -> incident {run['max_commit_s']} s; lost {len(run['others_lost'])}",
                flush=True,
            )
            runs.append(run)
    return {"runs": runs, "summary": summarise(runs)}
