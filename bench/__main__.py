"""`python -m bench` (make bench) and `python -m bench --soak-minutes N --phases soak` (make soak)."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace

from bench.harness import BenchPlan, run, table, write_report

# "watch" (the 3G* adapter) and "flood" (one device's stuck button against others' SOS) are opt-in.
PHASES = ("ceiling", "e2e", "connections", "soak", "watch", "flood")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--phases", default="ceiling,e2e,connections", help=f"comma-separated of {', '.join(PHASES)}")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a seconds-long check that the harness works")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--ceiling-messages", type=int)
    parser.add_argument("--connection-devices", type=int)
    parser.add_argument("--watch-connections", type=int, help="watches held in the watch phase (default 20000)")
    parser.add_argument("--watch-hold-s", type=float, help="how long the watch phase holds them (default 60)")
    parser.add_argument(
        "--watch-processes", type=int, help="simulator and adapter processes each for the watch phase (default 2)"
    )
    parser.add_argument("--e2e-rates", help="comma-separated telemetry rates, e.g. 0,1000,3000")
    parser.add_argument("--e2e-step-s", type=float)
    parser.add_argument(
        "--gateway-processes", type=int, help="bulk-lane gateways for the e2e, connection and soak phases (default 2)"
    )
    parser.add_argument("--flood-repetitions", type=int, help="floods in the flood phase (default 5)")
    parser.add_argument("--repetitions", type=int, help="runs of ceiling and e2e, each a fresh platform (default 3)")
    parser.add_argument("--probes-per-step", type=int, help="SOS probes in each e2e step (default 1000)")
    parser.add_argument("--no-city", action="store_true", help="measure empty databases (no seeded city)")
    parser.add_argument("--city-elders", type=int, help="elders in the seeded city (default 100000)")
    parser.add_argument("--city-incidents", type=int, help="historical incidents in the city (default 1000000)")
    args = parser.parse_args()
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    plan = BenchPlan.smoke() if args.smoke else BenchPlan(soak_s=args.soak_minutes * 60)
    if "soak" in phases and not args.smoke:
        plan.label = "soak"
    if args.ceiling_messages:
        plan.ceiling_messages = args.ceiling_messages
    if args.connection_devices:
        plan.connection_devices = args.connection_devices
    if args.watch_connections:
        plan.watch_connections = args.watch_connections
    if args.watch_hold_s:
        plan.watch_hold_s = args.watch_hold_s
    if args.watch_processes:
        plan.watch_sim_processes = plan.watch_adapter_processes = args.watch_processes
    if args.e2e_rates:
        plan.e2e_rates = tuple(int(r) for r in args.e2e_rates.split(","))
    if args.e2e_step_s:
        plan.e2e_step_s = args.e2e_step_s
    if args.flood_repetitions:
        plan.flood_repetitions = args.flood_repetitions
    if "flood" in phases and phases == ("flood",) and not args.smoke:
        plan.label = "flood"
    if args.gateway_processes:
        plan.gateway_processes = args.gateway_processes
    if args.repetitions:
        plan.repetitions = args.repetitions
    if args.probes_per_step:
        plan.probes_per_step = args.probes_per_step
    if args.no_city:
        plan.city = None
    elif plan.city is not None and (args.city_elders or args.city_incidents):
        plan.city = replace(
            plan.city,
            elders=args.city_elders or plan.city.elders,
            incidents=args.city_incidents or plan.city.incidents,
        )
    report = asyncio.run(run(plan, phases))
    path = write_report(report)
    for line in table(report):
        print(line)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
