"""The inbox indexed by age: it is pruned past the dedup window.

Revision ID: 0003_inbox_by_age
"""

from eldercare.migrations_env import drop_inbox_age_index, index_inbox_by_age

revision = "0003_inbox_by_age"
down_revision = "0002_monitoring"

upgrade = index_inbox_by_age
downgrade = drop_inbox_age_index
