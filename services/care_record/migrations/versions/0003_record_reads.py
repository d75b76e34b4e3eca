"""Audit entries for reads of a whole elder record.

Revision ID: 0003_record_reads
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import BigIntPK, UTCDateTime

revision = "0003_record_reads"
down_revision = "0002_registry"


def upgrade() -> None:
    op.create_table(
        "record_reads",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("elder_id", sa.String(36), nullable=False, index=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("record_reads")
