"""An elder's deactivation (moved away, deceased): when and why.

Revision ID: 0006_elder_deactivation
"""

import sqlalchemy as sa
from alembic import op

from eldercare.db import UTCDateTime

revision = "0006_elder_deactivation"
down_revision = "0005_inbox_by_age"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("elders") as batch:
        batch.add_column(sa.Column("deactivated_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("deactivation_reason", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("elders") as batch:
        batch.drop_column("deactivation_reason")
        batch.drop_column("deactivated_at")
