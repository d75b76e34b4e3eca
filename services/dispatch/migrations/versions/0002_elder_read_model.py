"""The elder read model (snapshots, device index, read positions) and incident priority reasons.

Revision ID: 0002_elder_read_model
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import UTCDateTime

revision = "0002_elder_read_model"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "elder_snapshots",
        sa.Column("elder_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("snapshot", sa.LargeBinary, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "device_elder_index",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("elder_id", sa.String(64), nullable=False, index=True),
        sa.Column("binding_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "elder_read_model_offsets",
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("priority_reasons", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("priority_reasons")
    op.drop_table("elder_read_model_offsets")
    op.drop_table("device_elder_index")
    op.drop_table("elder_snapshots")
