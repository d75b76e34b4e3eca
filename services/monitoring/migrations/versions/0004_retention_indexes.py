"""Vitals readings and alerts indexed by age: retention deletes the old ones.

Revision ID: 0004_retention_indexes
"""

from alembic import op

revision = "0004_retention_indexes"
down_revision = "0003_inbox_by_age"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_vitals_at", "vitals_readings", ["at"])
    op.create_index("ix_alerts_raised", "alerts", ["raised_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_raised", table_name="alerts")
    op.drop_index("ix_vitals_at", table_name="vitals_readings")
