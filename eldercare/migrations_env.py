"""The body of every service's Alembic env.py: migrate on the connection the service hands over."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op


def run() -> None:
    """Run migrations online on `config.attributes['connection']` (set by eldercare.db.run_migrations)."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run from the service at start-up (eldercare.db.run_migrations)")
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def create_kit_tables() -> None:
    """Create the inbox and outbox tables every service has (for a service's first migration)."""
    from eldercare.db import BigIntPK, UTCDateTime

    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def index_inbox_by_age() -> None:
    """The inbox is pruned by age (eldercare.db.prune_inbox): an index keeps that a range scan."""
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])


def drop_inbox_age_index() -> None:
    op.drop_index("ix_processed_events_processed_at", "processed_events")
