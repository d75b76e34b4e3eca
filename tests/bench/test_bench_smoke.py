"""The benchmark harness and the fleet simulator, run end to end with tiny numbers (no timing assertions)."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.charts import chart_paths
from bench.harness import BenchPlan, run, table, write_report

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


# Four platform start-ups in one test: on a loaded 2-core box that can exceed the suite's 180 s default.
@pytest.mark.timeout(480)
async def test_every_bench_phase_runs_and_reports(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    plan = BenchPlan.smoke()
    report = await run(plan, ("ceiling", "e2e", "connections", "soak"))

    # Progress as it went: the city, each repetition and step, the soak, each line with its elapsed time.
    said = capsys.readouterr().err
    assert "seed city: incidents" in said and "rows/s" in said
    for number in range(1, plan.repetitions + 1):
        assert f"repetition {number}/{plan.repetitions}" in said
    assert f"e2e step {len(plan.e2e_rates)}/{len(plan.e2e_rates)} done" in said
    assert "soak " in said and " s] " in said
    # The city the e2e ran against, counted after seeding.
    city = plan.city
    assert city is not None
    assert (report["city"]["elders_in_db"], report["city"]["incidents_in_db"]) == (city.elders, city.incidents)
    summary = report["summary"]
    assert summary["elders_in_db"] == city.elders and summary["repetitions"] == plan.repetitions
    assert summary["postgres_fsync"] is True and summary["probes_per_step"] == plan.probes_per_step
    assert set(summary["sos_commit_p99_ms"]) == {str(rate) for rate in plan.e2e_rates}

    # PostgreSQL as in production: every commit waits for the disk.
    postgres = report["machine"]["postgres"]
    assert (postgres["fsync"], postgres["synchronous_commit"]) == ("on", "on"), postgres
    assert postgres["server_version"]
    ceilings = report["ceiling"]["runs"]
    assert len(ceilings) == plan.repetitions
    for ceiling in ceilings:
        assert ceiling["raw_pipeline"]["messages"] == plan.ceiling_messages
        assert [g["gateway_processes"] for g in ceiling["gateways"]] == list(plan.ceiling_gateway_counts)
        for gateway in ceiling["gateways"]:
            assert gateway["messages"] >= plan.ceiling_messages
            assert gateway["rejected"] == 0
            assert gateway["msg_per_s"] > 0
    # With 300 messages the raw figure is meaningless (one librdkafka batch), so only its presence is checked.
    ratio = report["ceiling"]["gateway_to_raw_ratio"]
    assert set(ratio) == {f"{n}_process" for n in plan.ceiling_gateway_counts}
    assert all(len(figure["runs"]) == plan.repetitions for figure in ratio.values())
    e2e_runs = report["end_to_end"]["runs"]
    assert len(e2e_runs) == plan.repetitions
    for e2e_run in e2e_runs:
        steps = e2e_run["steps"]
        assert [s["offered_msg_per_s"] for s in steps] == list(plan.e2e_rates)
        for step in steps:
            # Every planned probe pressed, on devices connected before the step.
            assert step["sos_probes"] == plan.probes_per_step
            assert step["sos_missing"] == 0, step
            # Every probe was seen on Kafka, so every one has a commit bound, no later than its Kafka event.
            bound, on_kafka = step["sos_to_incident_committed_at_most"], step["sos_to_incident_opened"]
            assert bound["n"] == step["sos_probes"] and bound["max_ms"] <= on_kafka["max_ms"], step
            assert step["dispatch"]["alarm_transaction_mean_ms"] is not None, step
    by_rate = report["end_to_end"]["by_rate"]
    assert set(by_rate) == {str(rate) for rate in plan.e2e_rates}
    p99 = by_rate[str(plan.e2e_rates[-1])]["SOS -> incident committed p99 ms"]
    assert len(p99["runs"]) == plan.repetitions and p99["min"] <= p99["median"] <= p99["max"]
    assert report["connections"]["held_connected"] == plan.connection_devices
    soak = report["soak"]
    assert soak["events_acked_by_broker"] > 0
    assert soak["audit_missing_events"] == 0
    assert report["machine"]["cores"] >= 1

    path = write_report(report, tmp_path)
    assert path.exists()
    # The charts beside it, valid PNGs; the lag chart has samples to draw.
    assert all(step["samples"] for e2e_run in e2e_runs for step in e2e_run["steps"])
    for chart in chart_paths(path).values():
        with Image.open(chart) as image:
            image.verify()
    assert any("ceiling" in line for line in table(report))


@pytest.mark.timeout(300)
async def test_the_watch_phase_holds_its_watches_probes_sos_over_tcp_and_measures_a_ceiling() -> None:
    plan = BenchPlan.smoke()
    report = await run(plan, ("watch",))
    watch = report["watch"]
    connections = watch["connections"]
    # Split over two simulators and two adapters, as the 20,000-watch run must be (fd limit per process).
    assert (connections["simulator_processes"], connections["adapter_processes"]) == (2, 2)
    assert connections["held_connected"] == connections["held_by_adapters"] == plan.watch_connections
    assert set(connections["adapter_rss_mb"]) == {"watch", "watch-2"}
    sos = watch["sos_over_tcp"]
    assert sos["probes"] > 0 and sos["sos_missing"] == 0, sos
    assert sos["sos_to_al_reply"]["n"] == sos["probes"]
    bound, opened = sos["sos_to_incident_committed_at_most"], sos["sos_to_incident_opened"]
    assert bound["n"] == sos["probes"] and bound["max_ms"] <= opened["max_ms"], sos
    ceiling = watch["ceiling"]
    assert ceiling["frames"] == plan.watch_ceiling_frames and ceiling["frames_per_s"] > 0
    assert ceiling["location_events_produced"] + ceiling["telemetry_dropped"] == ceiling["frames"]
    assert any(line.startswith("watch:") for line in table(report))


@pytest.mark.timeout(300)
async def test_the_flood_phase_counts_every_other_sos_and_every_press_of_the_flooding_device() -> None:
    plan = BenchPlan.smoke()
    report = await run(plan, ("flood",))
    flood = report["flood"]
    (one,) = flood["runs"]
    assert one["flood_presses"] == plan.flood_presses
    assert one["others_lost"] == [] and len(one["commit_s"]) == plan.flood_others, one
    # The committed time comes first; the Kafka event follows the outbox relay.
    assert len(one["kafka_opened_s"]) == plan.flood_others
    assert min(one["commit_s"]) <= min(one["kafka_opened_s"])
    assert (one["flooding_device_incidents"], one["flooding_device_alarm_count"]) == (1, plan.flood_presses)
    summary = flood["summary"]
    assert summary["other_sos"] == plan.flood_others and summary["other_sos_lost"] == 0
    assert summary["flooding_device_one_incident_every_press"] is True
    assert any(line.startswith("flood:") for line in table(report))
