"""Inbox and outbox.

Revision ID: 0001
"""

from eldercare.migrations_env import create_kit_tables

revision = "0001"
down_revision = None

upgrade = create_kit_tables
