"""Calls on the line, and the phone-number index of the elder read model (the console's call pop-up).

Joins the two branches (0002, 0005). The index is filled from the snapshots already held, so
numbers of elders who do not change after the upgrade are found too.

Revision ID: 0006_console_calls
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import BigIntPK, UTCDateTime

revision = "0006_console_calls"
down_revision = ("0002_elder_read_model", "0005_device_commands_by_device")


def upgrade() -> None:
    op.create_table(
        "elder_phone_index",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(32), nullable=False, index=True),
        sa.Column("elder_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
    )
    op.create_table(
        "phone_calls",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("caller", sa.String(40), nullable=False),
        sa.Column("callee", sa.String(40), nullable=False),
        sa.Column("agent", sa.String(128), nullable=True),
        sa.Column("match_kind", sa.String(8), nullable=True),
        sa.Column("caller_label", sa.String(200), nullable=True),
        sa.Column("elder_id", sa.String(64), nullable=True, index=True),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("incident_id", sa.String(36), nullable=True, index=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "call_events",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False, index=True),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("agent", sa.String(128), nullable=True),
        sa.UniqueConstraint("call_id", "event", name="uq_call_events_call_event"),
    )
    _index_held_snapshots()


def _index_held_snapshots() -> None:
    # Imported here: the migration runs inside the service, whose code it shares.
    from eldercare.v1 import elders_pb2
    from services.dispatch.elder.service import phone_rows

    connection = op.get_bind()
    index = sa.table(
        "elder_phone_index",
        sa.column("phone", sa.String),
        sa.column("elder_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("device_id", sa.String),
        sa.column("label", sa.String),
    )
    held = connection.execute(sa.text("SELECT snapshot FROM elder_snapshots WHERE deleted = :no"), {"no": False})
    for (raw,) in held:
        snapshot = elders_pb2.ElderSnapshot()
        snapshot.ParseFromString(raw)
        rows = [
            {"phone": r.phone, "elder_id": r.elder_id, "kind": r.kind, "device_id": r.device_id, "label": r.label}
            for r in phone_rows(snapshot)
        ]
        if rows:
            connection.execute(index.insert(), rows)


def downgrade() -> None:
    op.drop_table("call_events")
    op.drop_table("phone_calls")
    op.drop_table("elder_phone_index")
