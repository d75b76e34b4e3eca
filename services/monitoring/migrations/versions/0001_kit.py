"""Inbox and outbox.

Revision ID: 0001
"""

from eldercare.migrations_env import create_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables()
