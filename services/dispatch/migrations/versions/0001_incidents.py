"""Incidents, their timeline, inbox and outbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import BigIntPK, UTCDateTime
from eldercare.migrations_env import create_kit_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_kit_tables()
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("elder_id", sa.String(64), nullable=True, index=True),
        sa.Column("source_event_id", sa.String(64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("last_alarm_at", UTCDateTime(), nullable=False),
        sa.Column("alarm_count", sa.Integer, nullable=False),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("accuracy_m", sa.Float, nullable=True),
        sa.Column("location_source", sa.String(8), nullable=True),
        sa.Column("battery", sa.Integer, nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(128), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
    )
    op.create_index("ix_incidents_queue", "incidents", ["status", "priority", "opened_at"])
    op.create_index("ix_incidents_device_status", "incidents", ["device_id", "status"])
    op.create_table(
        "incident_entries",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(36), nullable=False, index=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incident_entries")
    op.drop_table("incidents")
    op.drop_table("outbox")
    op.drop_table("processed_events")
