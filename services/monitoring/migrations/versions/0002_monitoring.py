"""Monitoring: elder read model, device state, alerts, geofences, vitals.

Revision ID: 0002_monitoring
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import BigIntPK, UTCDateTime

revision = "0002_monitoring"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("elder_id", sa.String(length=64), nullable=True),
        sa.Column("geofence_id", sa.String(length=36), nullable=True),
        sa.Column("resolves_alert_id", sa.String(length=36), nullable=True),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_device_raised", "alerts", ["device_id", "raised_at"], unique=False)
    op.create_table(
        "device_bindings",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("elder_id", sa.String(length=64), nullable=False),
        sa.Column("binding_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_index(op.f("ix_device_bindings_elder_id"), "device_bindings", ["elder_id"], unique=False)
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("elder_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("device_last_event_at", UTCDateTime(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("location_source", sa.String(length=8), nullable=True),
        sa.Column("location_at", UTCDateTime(), nullable=True),
        sa.Column("battery", sa.Integer(), nullable=True),
        sa.Column("signal", sa.Integer(), nullable=True),
        sa.Column("firmware", sa.String(length=64), nullable=True),
        sa.Column("last_heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("heartbeat_interval_s", sa.Float(), nullable=True),
        sa.Column("offline_timeout_override_s", sa.Float(), nullable=True),
        sa.Column("offline_due_at", UTCDateTime(), nullable=False),
        sa.Column("offline_since", UTCDateTime(), nullable=True),
        sa.Column("offline_alert_id", sa.String(length=36), nullable=True),
        sa.Column("offline_alert_pending", sa.Boolean(), nullable=False),
        sa.Column("low_battery_alerted", sa.Boolean(), nullable=False),
        sa.Column("last_alarm", sa.String(length=32), nullable=True),
        sa.Column("last_steps", sa.BigInteger(), nullable=True),
        sa.Column("activity_lat", sa.Float(), nullable=True),
        sa.Column("activity_lon", sa.Float(), nullable=True),
        sa.Column("last_activity_at", UTCDateTime(), nullable=True),
        sa.Column("inactivity_alerted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_index(op.f("ix_devices_elder_id"), "devices", ["elder_id"], unique=False)
    op.create_index("ix_devices_status_due", "devices", ["status", "offline_due_at"], unique=False)
    op.create_table(
        "elder_profiles",
        sa.Column("elder_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("lives_alone", sa.Boolean(), nullable=False),
        sa.Column("has_dementia", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("elder_id"),
    )
    op.create_table(
        "geofence_device_states",
        sa.Column("geofence_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("candidate", sa.String(length=8), nullable=True),
        sa.Column("candidate_fixes", sa.Integer(), nullable=False),
        sa.Column("candidate_since", UTCDateTime(), nullable=True),
        sa.Column("exit_alert_id", sa.String(length=36), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("geofence_id", "device_id"),
    )
    op.create_table(
        "geofences",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("elder_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("shape", sa.String(length=8), nullable=False),
        sa.Column("center_lat", sa.Float(), nullable=True),
        sa.Column("center_lon", sa.Float(), nullable=True),
        sa.Column("radius_m", sa.Float(), nullable=True),
        sa.Column("polygon", sa.Text(), nullable=True),
        sa.Column("active_from", sa.String(length=5), nullable=True),
        sa.Column("active_to", sa.String(length=5), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_geofences_elder_id"), "geofences", ["elder_id"], unique=False)
    op.create_table(
        "vitals_readings",
        sa.Column("id", BigIntPK, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("elder_id", sa.String(length=64), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("heart_rate", sa.Float(), nullable=True),
        sa.Column("spo2", sa.Float(), nullable=True),
        sa.Column("systolic", sa.Float(), nullable=True),
        sa.Column("diastolic", sa.Float(), nullable=True),
        sa.Column("body_temp", sa.Float(), nullable=True),
        sa.Column("steps", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_vitals_device_at", "vitals_readings", ["device_id", "at"], unique=False)
    op.create_index("ix_vitals_elder_at", "vitals_readings", ["elder_id", "at"], unique=False)
    op.create_table(
        "vitals_streaks",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("abnormal_readings", sa.Integer(), nullable=False),
        sa.Column("first_abnormal_at", UTCDateTime(), nullable=True),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "measure"),
    )
    op.create_table(
        "vitals_thresholds",
        sa.Column("elder_id", sa.String(length=64), nullable=False),
        sa.Column("heart_rate_low", sa.Float(), nullable=True),
        sa.Column("heart_rate_high", sa.Float(), nullable=True),
        sa.Column("spo2_low", sa.Float(), nullable=True),
        sa.Column("systolic_low", sa.Float(), nullable=True),
        sa.Column("systolic_high", sa.Float(), nullable=True),
        sa.Column("body_temp_high", sa.Float(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("elder_id"),
    )


def downgrade() -> None:
    for table in (
        "vitals_streaks",
        "vitals_thresholds",
        "vitals_readings",
        "geofence_device_states",
        "geofences",
        "devices",
        "device_bindings",
        "alerts",
        "elder_profiles",
    ):
        op.drop_table(table)
