"""Dispatch operations: responders, assignments, escalation timers, device commands, incident area.

Revision ID: 0004_operations
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import UTCDateTime

revision = "0004_operations"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "responders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("base_lat", sa.Float, nullable=True),
        sa.Column("base_lon", sa.Float, nullable=True),
        sa.Column("area", sa.String(64), nullable=True, index=True),
        sa.Column("coverage_radius_km", sa.Float, nullable=True),
        sa.Column("skills", sa.Text, nullable=False),
        sa.Column("schedule", sa.Text, nullable=True),
        sa.Column("elder_ids", sa.Text, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("live_lat", sa.Float, nullable=True),
        sa.Column("live_lon", sa.Float, nullable=True),
        sa.Column("live_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("incident_id", sa.String(36), nullable=False, index=True),
        sa.Column("responder_id", sa.String(36), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cascade", sa.Boolean, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("assigned_by", sa.String(128), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=False),
        sa.Column("respond_by", UTCDateTime(), nullable=True),
        sa.Column("responded_at", UTCDateTime(), nullable=True),
        sa.Column("en_route_at", UTCDateTime(), nullable=True),
        sa.Column("on_scene_at", UTCDateTime(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
    )
    op.create_index("ix_assignments_due", "assignments", ["state", "respond_by"])
    op.create_table(
        "escalation_timers",
        sa.Column("incident_id", sa.String(36), primary_key=True),
        sa.Column("due_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("last_escalated_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "device_commands",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("incident_id", sa.String(36), nullable=True, index=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("text", sa.String(500), nullable=True),
        sa.Column("callback_number", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_sent_at", UTCDateTime(), nullable=False),
        sa.Column("acked_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_device_commands_due", "device_commands", ["state", "next_attempt_at"])
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("area", sa.String(64), nullable=True))
    op.create_index("ix_incidents_area", "incidents", ["area"])


def downgrade() -> None:
    op.drop_index("ix_incidents_area", "incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("area")
    op.drop_table("device_commands")
    op.drop_table("escalation_timers")
    op.drop_table("assignments")
    op.drop_table("responders")
