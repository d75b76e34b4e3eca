"""Elder registry, contacts, device bindings, assessments, visits, reminders, timeline copies.

Revision ID: 0002_registry
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import BigIntPK, UTCDateTime

revision = "0002_registry"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "elders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("sex", sa.String(8), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False, unique=True),
        sa.Column("phone", sa.String(32), nullable=True, index=True),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("home_lat", sa.Float, nullable=True),
        sa.Column("home_lon", sa.Float, nullable=True),
        sa.Column("province", sa.String(64), nullable=False),
        sa.Column("city", sa.String(64), nullable=False),
        sa.Column("district", sa.String(64), nullable=False),
        sa.Column("street", sa.String(64), nullable=False),
        sa.Column("community", sa.String(64), nullable=False),
        sa.Column("area_type", sa.String(16), nullable=False),
        sa.Column("area_path", sa.String(340), nullable=False),
        sa.Column("living_situation", sa.String(16), nullable=False),
        sa.Column("categories", sa.String(255), nullable=False),
        sa.Column("language", sa.String(64), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("conditions", sa.JSON, nullable=False),
        sa.Column("medications", sa.JSON, nullable=False),
        sa.Column("allergies", sa.JSON, nullable=False),
        sa.Column("blood_type", sa.String(8), nullable=False),
        sa.Column("primary_doctor", sa.String(128), nullable=False),
        sa.Column("family_doctor_contract", sa.Boolean, nullable=False),
        sa.Column("hospital_preference", sa.String(128), nullable=False),
        sa.Column("ability_level", sa.Integer, nullable=True, index=True),
        sa.Column("last_visit_at", UTCDateTime(), nullable=True),
        sa.Column("snapshot_version", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_elders_area_path", "elders", ["area_path"])
    op.create_index("ix_elders_name", "elders", ["name"])
    op.create_table(
        "elder_contacts",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("elder_id", sa.String(36), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("relation", sa.String(32), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("has_key", sa.Boolean, nullable=False),
        sa.Column("distance_km", sa.Float, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
    )
    op.create_table(
        "device_bindings",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("elder_id", sa.String(36), nullable=False, index=True),
        sa.Column("bound_at", UTCDateTime(), nullable=False),
        sa.Column("bound_by", sa.String(128), nullable=False),
        sa.Column("unbound_at", UTCDateTime(), nullable=True),
        sa.Column("unbound_by", sa.String(128), nullable=True),
    )
    op.create_index(
        "ux_device_bindings_active",
        "device_bindings",
        ["device_id"],
        unique=True,
        postgresql_where=sa.text("unbound_at IS NULL"),
        sqlite_where=sa.text("unbound_at IS NULL"),
    )
    op.create_table(
        "assessments",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("elder_id", sa.String(36), nullable=False, index=True),
        sa.Column("assessed_on", sa.Date, nullable=False),
        sa.Column("assessor", sa.String(128), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("sub_scores", sa.JSON, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "visits",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("elder_id", sa.String(36), nullable=False),
        sa.Column("visited_at", UTCDateTime(), nullable=False),
        sa.Column("visitor", sa.String(128), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_visits_elder_time", "visits", ["elder_id", "visited_at"])
    op.create_table(
        "reminders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("elder_id", sa.String(36), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("repeat", sa.String(8), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(36), nullable=True),
        sa.Column("sent_to_device", sa.String(64), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_reminders_due", "reminders", ["status", "due_at"])
    op.create_table(
        "observed_alarms",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("elder_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_observed_alarms_elder_time", "observed_alarms", ["elder_id", "occurred_at"])
    op.create_table(
        "observed_incident_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("incident_id", sa.String(36), nullable=False, index=True),
        sa.Column("elder_id", sa.String(36), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("incident_kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_observed_incident_events_elder_time", "observed_incident_events", ["elder_id", "at"])


def downgrade() -> None:
    for table in (
        "observed_incident_events",
        "observed_alarms",
        "reminders",
        "visits",
        "assessments",
        "device_bindings",
        "elder_contacts",
        "elders",
    ):
        op.drop_table(table)
