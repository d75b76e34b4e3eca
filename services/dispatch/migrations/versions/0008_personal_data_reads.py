"""Every read of an elder's record through dispatch is audited: who, when, for which incident.

Revision ID: 0008_personal_data_reads
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import BigIntPK, UTCDateTime

revision = "0008_personal_data_reads"
down_revision = "0007_inbox_by_age"


def upgrade() -> None:
    op.create_table(
        "personal_data_reads",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("elder_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("incident_id", sa.String(36), nullable=True),
        sa.Column("via", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_personal_data_reads_elder_at", "personal_data_reads", ["elder_id", "at"])


def downgrade() -> None:
    op.drop_table("personal_data_reads")
