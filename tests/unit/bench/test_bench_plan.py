"""The benchmark plan's sizing rules (the harness itself runs in tests/bench, the summary beside this file)."""

from __future__ import annotations

from bench.harness import DISPATCH_TIMINGS, BenchPlan, committed_bounds, dispatch_means_ms, metric_sum


def test_a_large_ceiling_backlog_is_spread_so_no_device_goes_over_the_gateway_burst() -> None:
    # 600,000 reports from 2,000 devices is 300 each: the gateway would dead-letter a third as rate-limited.
    assert BenchPlan(ceiling_messages=600_000).ceiling_fleet == 6_000
    assert BenchPlan(ceiling_messages=100_000).ceiling_fleet == 2_000


EXPOSITION = """\
# HELP eldercare_db_transaction_seconds Database transaction latency
eldercare_db_transaction_seconds_sum{operation="record_alarm"} 0.5
eldercare_db_transaction_seconds_count{operation="record_alarm"} 100.0
eldercare_db_transaction_seconds_sum{operation="apply_snapshot"} 9.0
eldercare_db_transaction_seconds_count{operation="apply_snapshot"} 3.0
eldercare_outbox_delay_seconds_sum 1.25
eldercare_outbox_delay_seconds_count 250.0
"""


def test_a_step_reports_dispatch_means_from_the_difference_of_two_scrapes_of_one_operation() -> None:
    before = [metric_sum(EXPOSITION, name, label) for name, label in DISPATCH_TIMINGS]
    assert before == [0.5, 100.0, 1.25, 250.0]  # the other operation's samples are not summed in
    after = [before[0] + 0.9, before[1] + 100, before[2] + 3.0, before[3] + 500]
    assert dispatch_means_ms(before, after) == {"alarm_transaction_mean_ms": 9.0, "outbox_delay_mean_ms": 6.0}
    assert dispatch_means_ms(before, before) == {"alarm_transaction_mean_ms": None, "outbox_delay_mean_ms": None}


def test_the_commit_bound_is_the_earlier_of_the_kafka_event_and_the_stream_per_probe() -> None:
    sent = {"kafka-first": 10.0, "stream-first": 20.0, "kafka-only": 30.0, "never-seen": 40.0}
    opened = {"kafka-first": 10.05, "stream-first": 20.09, "kafka-only": 30.07}
    incident_of = {"kafka-first": "i1", "stream-first": "i2", "kafka-only": "i3"}
    streamed = {"i1": 10.08, "i2": 20.04}
    bounds = committed_bounds(sent, opened=opened, incident_of=incident_of, streamed=streamed)
    assert [round(b, 3) for b in bounds] == [0.05, 0.04, 0.07]  # a probe seen nowhere has no bound
