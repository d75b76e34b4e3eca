"""Record reads say which incident they were for.

Revision ID: 0007_read_reasons
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_read_reasons"
down_revision = "0006_elder_deactivation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_reads") as batch:
        batch.add_column(sa.Column("incident_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("record_reads") as batch:
        batch.drop_column("incident_id")
