"""The inbox indexed by age: it is pruned past the dedup window.

Revision ID: 0007_inbox_by_age
"""

from eldercare.migrations_env import drop_inbox_age_index, index_inbox_by_age

revision = "0007_inbox_by_age"
down_revision = "0006_console_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    index_inbox_by_age()


def downgrade() -> None:
    drop_inbox_age_index()
