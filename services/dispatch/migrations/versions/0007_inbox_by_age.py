"""The inbox indexed by age: it is pruned past the dedup window.

Revision ID: 0007_inbox_by_age
"""

from eldercare.migrations_env import drop_inbox_age_index, index_inbox_by_age

revision = "0007_inbox_by_age"
down_revision = "0006_console_calls"

upgrade = index_inbox_by_age
downgrade = drop_inbox_age_index
