"""`python -m tools.sim` (or `eldercare-sim`): run a simulated fleet against an MQTT broker,
or (`--protocol watch3g --watch-addr host:port`) against the watch adapter as "3G*" watches over TCP.

Prints one JSON line of statistics every few seconds and a final one (`"final": true`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import orjson
import uvloop

from tools.sim.fleet import Fleet, FleetConfig, raise_fd_limit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eldercare-sim", description=__doc__)
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883", help="mqtts://host:8883 for TLS")
    parser.add_argument("--ca-file", help="with mqtts://: the CA that signed the broker's certificate")
    parser.add_argument(
        "--device-password", help="log every device in as its id with this password (the production broker)"
    )
    parser.add_argument("--protocol", choices=("mqtt", "watch3g"), default="mqtt")
    parser.add_argument("--watch-addr", default="127.0.0.1:5093", help="the watch adapter (with --protocol watch3g)")
    parser.add_argument("--devices", type=int, default=100, help="concurrent device sessions")
    parser.add_argument("--id-prefix", default="SIM", help="device ids are PREFIX + a 6-digit number")
    parser.add_argument("--rate", type=float, help="total messages/s for the fleet (default: each device's schedule)")
    parser.add_argument("--heartbeat-s", type=float, default=180.0)
    parser.add_argument("--location-min-s", type=float, default=60.0)
    parser.add_argument("--location-max-s", type=float, default=600.0)
    parser.add_argument("--vitals-s", type=float, default=600.0)
    parser.add_argument("--sos-per-device-day", type=float, default=0.01)
    parser.add_argument("--fall-per-device-day", type=float, default=0.005)
    parser.add_argument("--fence-exit-per-device-day", type=float, default=0.05)
    parser.add_argument("--keepalive-s", type=int, default=300)
    parser.add_argument("--max-inflight", type=int, default=5000, help="fleet-wide publishes awaiting PUBACK")
    parser.add_argument("--connect-concurrency", type=int, default=400)
    parser.add_argument("--duration-s", type=float, help="stop after this long (default: until Ctrl-C)")
    parser.add_argument("--burst", type=int, help="publish exactly this many location reports, then exit")
    parser.add_argument("--storm", choices=("reconnect", "sos"), help="reconnect storm or mass SOS")
    parser.add_argument("--storm-at-s", type=float, default=30.0)
    parser.add_argument("--storm-size", type=int, default=1000, help="devices that press SOS in a mass-SOS storm")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--run-id", help="prefix of every event_id (default: random)")
    parser.add_argument("--audit-file", type=Path, help="write per-device sequence numbers here at the end")
    parser.add_argument(
        "--receipt-timeout-s", type=float, default=5.0, help="resend an unreceipted alarm after this (0: never)"
    )
    parser.add_argument("--receipt-backoff-max-s", type=float, default=60.0)
    parser.add_argument("--stats-interval-s", type=float, default=5.0)
    return parser


def config_from_args(args: argparse.Namespace) -> FleetConfig:
    """The FleetConfig the command line asks for."""
    config = FleetConfig(
        mqtt_url=args.mqtt_url,
        ca_file=args.ca_file,
        device_password=args.device_password,
        protocol=args.protocol,
        watch_addr=args.watch_addr,
        devices=args.devices,
        id_prefix=args.id_prefix,
        rate=args.rate,
        heartbeat_s=args.heartbeat_s,
        location_min_s=args.location_min_s,
        location_max_s=args.location_max_s,
        vitals_s=args.vitals_s,
        sos_per_device_day=args.sos_per_device_day,
        fall_per_device_day=args.fall_per_device_day,
        fence_exit_per_device_day=args.fence_exit_per_device_day,
        keepalive_s=args.keepalive_s,
        max_inflight=args.max_inflight,
        connect_concurrency=args.connect_concurrency,
        duration_s=args.duration_s,
        burst=args.burst,
        storm=args.storm,
        storm_at_s=args.storm_at_s,
        storm_size=args.storm_size,
        seed=args.seed,
        receipt_timeout_s=args.receipt_timeout_s,
        receipt_backoff_max_s=args.receipt_backoff_max_s,
    )
    if args.run_id:
        config.run_id = args.run_id
    return config


def _print(record: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(record).decode() + "\n")
    sys.stdout.flush()


async def run(args: argparse.Namespace) -> int:
    """Run the fleet until done or signalled; returns the exit code."""
    config = config_from_args(args)
    raise_fd_limit(config.devices + 1024)
    fleet = Fleet(config, on_stats=_print)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, fleet.stop)
    try:
        await fleet.run()
    finally:
        if args.audit_file:
            args.audit_file.write_bytes(orjson.dumps(fleet.audit_record()))
        await fleet.close()
    return 0


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args()
    # uvloop: the load generator shares the box with what it measures, so it should cost as little as it can.
    raise SystemExit(uvloop.run(run(args)))


if __name__ == "__main__":
    main()
