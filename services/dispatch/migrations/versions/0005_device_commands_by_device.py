"""Device commands listed per device (GET /devices/{id}/commands), settings commands included.

Revision ID: 0005_device_commands_by_device
"""

from alembic import op

revision = "0005_device_commands_by_device"
down_revision = "0004_operations"


def upgrade() -> None:
    op.create_index("ix_device_commands_device", "device_commands", ["device_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_device_commands_device", "device_commands")
