"""Each bound device's SIM number, so a call from the device's own line finds its wearer.

Revision ID: 0004_sim_numbers
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_sim_numbers"
down_revision = "0003_record_reads"


def upgrade() -> None:
    with op.batch_alter_table("device_bindings") as batch:
        batch.add_column(sa.Column("sim_number", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_bindings") as batch:
        batch.drop_column("sim_number")
