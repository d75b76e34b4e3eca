"""Database plumbing: engines, sessions, migrations, the inbox and the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Table,
    TypeDecorator,
    delete,
    event,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import Column, Field, SQLModel, col

from eldercare import metrics
from eldercare.envelope import utcnow
from eldercare.errors import NotFound
from eldercare.v1 import events_pb2 as pb

log = logging.getLogger(__name__)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on PostgreSQL and SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT on PostgreSQL, INTEGER (the rowid alias, so autoincrement works) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class ProcessedEvent(SQLModel, table=True):
    """Inbox: one row per (consumer, event_id) applied, written in the same transaction as the effect."""

    __tablename__ = "processed_events"

    consumer: str = Field(sa_column=Column(String(64), primary_key=True))
    event_id: str = Field(sa_column=Column(String(64), primary_key=True))
    processed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class OutboxMessage(SQLModel, table=True):
    """Events to publish, written in the same transaction as the change they describe."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    topic: str = Field(sa_column=Column(String(255), nullable=False))
    key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def sqlstate_class(exc: BaseException) -> str | None:
    """The first two characters of the SQLSTATE anywhere on the cause chain (asyncpg's errors
    reach us wrapped in a generic DBAPIError); "22" for a driver's DataError without one."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        sqlstate = str(getattr(seen, "sqlstate", "") or "")
        if sqlstate:
            return sqlstate[:2]
        if type(seen).__name__ == "DataError":
            return "22"
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


# SQLSTATE classes whose driver messages quote the refused values (a unique violation's
# "DETAIL: Key (phone)=(139…) already exists", an invalid input's "invalid input for $1: '…'").
_VALUE_QUOTING_CLASSES = frozenset({"22", "23"})


def describe_error(exc: BaseException) -> str:
    """An exception as a log line or a consumer's last error may carry it: a database error
    that quotes values is named by its kind, SQLSTATE and constraint only (the engine already
    hides the statement's parameters); anything else by its own text."""
    if sqlstate_class(exc) in _VALUE_QUOTING_CLASSES:
        seen: BaseException | None = exc
        sqlstate, constraint = "", ""
        for _ in range(5):
            if seen is None:
                break
            sqlstate = sqlstate or str(getattr(seen, "sqlstate", "") or "")
            constraint = constraint or str(getattr(seen, "constraint_name", "") or "")
            seen = getattr(seen, "orig", None) or seen.__cause__
        where = f", constraint {constraint}" if constraint else ""
        return f"{type(exc).__name__} (SQLSTATE {sqlstate or '22'}{where}; values withheld)"
    return f"{type(exc).__name__}: {exc}"


# Bounds on waiting for PostgreSQL (ServiceSettings overrides them). A link that drops packets
# instead of refusing them (a dead route, a firewall, a frozen host) answers nothing: without
# these, a statement or a connect waits until TCP gives up, a quarter of an hour, and the
# consumer's retry never comes round (fault scenario 14).
COMMAND_TIMEOUT_S = 10.0  # any one statement; the alarm path's take milliseconds
CONNECT_TIMEOUT_S = 5.0  # TCP connect and PostgreSQL's start-up handshake
POOL_TIMEOUT_S = 10.0  # waiting for a free connection of the pool


def create_engine(
    url: str,
    *,
    command_timeout: float | None = COMMAND_TIMEOUT_S,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    pool_timeout: float = POOL_TIMEOUT_S,
) -> AsyncEngine:
    """An async engine for PostgreSQL (asyncpg) or SQLite (aiosqlite).

    `command_timeout=None` lets statements run as long as they take (migrations): on a timeout
    asyncpg cancels the statement, and the caller's transaction fails and is retried.

    With hide_parameters: a statement's error message (logged, kept as a consumer's last
    error, shown on /readyz to token holders) names the statement but not its values, which
    are elders' names, phone numbers and addresses.
    """
    if url.startswith("sqlite"):
        return create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
    # No pre-ping: it is one more round trip on every transaction, the SOS path's included. A
    # connection broken by a database restart fails its first statement instead; that invalidates
    # the pool and the consumer retries the record on a fresh connection (tests/e2e/faults checks it).
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_timeout=pool_timeout,
        connect_args={"command_timeout": command_timeout, "timeout": connect_timeout},
        hide_parameters=True,
    )


# session.info keys: this transaction wrote something; this session is the relay's own.
_WROTE = "eldercare.wrote"
RELAY_SESSION = "eldercare.outbox_relay"


def session_factory(
    engine: AsyncEngine, *, after_write_commit: Callable[[], None] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions for `engine`; with `after_write_commit`, it is called after every commit that wrote.

    That is how the outbox relay learns of new rows without any writer having to remember to
    tell it: the rows and the change they describe commit together, and the relay wakes after.
    """
    if after_write_commit is None:
        return async_sessionmaker(engine, expire_on_commit=False)
    notify = after_write_commit

    class NotifyingSession(Session):
        """A session class of this factory's own, so the hooks below stay with it."""

    @event.listens_for(NotifyingSession, "after_flush")
    def _flushed(session: Session, _context: Any) -> None:
        session.info[_WROTE] = True

    @event.listens_for(NotifyingSession, "do_orm_execute")
    def _executed(state: ORMExecuteState) -> None:
        if not state.is_select:  # INSERT/UPDATE/DELETE statements, ORM or not, skip the flush
            state.session.info[_WROTE] = True

    @event.listens_for(NotifyingSession, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop(_WROTE, False) and not session.info.get(RELAY_SESSION):
            notify()

    @event.listens_for(NotifyingSession, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_WROTE, None)

    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=NotifyingSession)


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist (no-op for SQLite)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return
    name = parsed.database
    assert name, "database URL names no database"
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("created database %s", name)
            except asyncpg.DuplicateDatabaseError:
                pass  # another replica won the race
    finally:
        await conn.close()


def _alembic_config(migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return config


async def run_migrations(engine: AsyncEngine, migrations_dir: Path) -> None:
    """Upgrade the database to the newest Alembic revision; replicas take turns via an advisory lock."""

    def upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(str(migrations_dir))})
        config = _alembic_config(migrations_dir)
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")  # parallel branches are allowed; each applies once

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


def _lock_key(name: str) -> int:
    return zlib.crc32(name.encode())


def insert_ignore_conflict(session: AsyncSession, table: Any) -> Any:
    """Dialect-specific INSERT that supports ON CONFLICT DO NOTHING."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class ArrayWrite:
    """One INSERT or UPDATE of many rows on PostgreSQL, with one array per column (`unnest`).

    An executemany of N rows makes SQLAlchemy process N x columns bind values in Python and
    asyncpg send N bind/execute messages; passing each column as one array hands the whole
    batch to asyncpg's C encoder as a single statement. Built once per table and column set.
    """

    def __init__(self, table: Any, columns: Sequence[str], *, key: str | None = None) -> None:
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        self.columns = tuple(columns)
        arrays = ", ".join(f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)}[])" for name in self.columns)
        source = f"unnest({arrays}) AS v({', '.join(self.columns)})"
        if key is None:
            names = ", ".join(self.columns)
            self.statement = text(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {source}")
        else:
            assignments = ", ".join(f"{name} = v.{name}" for name in self.columns if name != key)
            self.statement = text(
                f"UPDATE {table.name} SET {assignments} FROM {source} WHERE {table.name}.{key} = v.{key}"
            )

    async def execute(self, session: AsyncSession, rows: Sequence[Any], *, values: Callable[[Any, str], Any]) -> None:
        """Write `rows`; `values(row, column)` reads one column of one row."""
        if rows:
            arrays = {name: [values(row, name) for row in rows] for name in self.columns}
            await session.execute(self.statement, arrays)


_CLAIM_ARRAY = text(
    "INSERT INTO processed_events (consumer, event_id, processed_at) "
    "SELECT CAST(:consumer AS VARCHAR(64)), e, CAST(:now AS TIMESTAMP WITH TIME ZONE) "
    "FROM unnest(CAST(:event_ids AS VARCHAR(64)[])) AS e "
    "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
)


async def prune_rows(session: AsyncSession, table: Table, *, column: str, before: datetime, limit: int = 10_000) -> int:
    """Delete rows of `table` whose `column` is before `before`, at most `limit` per call; returns how many.

    Batched so that a first prune of a large table never holds one long transaction; the
    column wants an index (each service's migrations give it one).
    """
    key = list(table.primary_key.columns)
    oldest = select(*key).where(table.c[column] < before).limit(limit)
    result = await session.execute(delete(table).where(tuple_(*key).in_(oldest)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # a CursorResult at run time


async def prune_inbox(session: AsyncSession, *, before: datetime, limit: int = 10_000) -> int:
    """Forget inbox rows applied before `before` (at most `limit` per call); returns how many went.

    Past the dedup window an event id may come back as a new event (a device reusing its ids).
    """
    return await prune_rows(session, ProcessedEvent.__table__, column="processed_at", before=before, limit=limit)  # type: ignore[attr-defined]


Row = TypeVar("Row")


async def fetch(
    session: AsyncSession, model: type[Row], key: Any, *, missing: type[NotFound], for_update: bool = False
) -> Row:
    """The row of `model` with primary key `key` (locked with `for_update`); `missing(key)` when there is none."""
    row = await session.get(model, key, with_for_update=for_update)
    if row is None:
        raise missing(key)
    return row


async def claim_due(
    session: AsyncSession, model: type[Row], *, where: Any, due: Any, until: datetime, limit: int
) -> list[Row]:
    """Rows of `model` matching `where` whose `due` column is at or before `until`, earliest first, at most
    `limit`, each locked FOR UPDATE SKIP LOCKED: every replica's timer claims rows of its own instead of
    waiting for another's, and no row is handled twice."""
    statement = (
        select(model).where(where, col(due) <= until).order_by(col(due)).limit(limit).with_for_update(skip_locked=True)
    )
    return list(await session.scalars(statement))


async def claim_event(session: AsyncSession, *, consumer: str, event_id: str) -> bool:
    """Record (consumer, event_id) in the inbox; False when it was applied before."""
    return event_id in await claim_events(session, consumer=consumer, event_ids=[event_id])


async def claim_events(session: AsyncSession, *, consumer: str, event_ids: Sequence[str]) -> set[str]:
    """Record a batch of event ids in the inbox in one statement; returns those not applied before."""
    unique = list(dict.fromkeys(event_ids))
    if not unique:
        return set()
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: no per-id bind processing, whatever the batch size.
        claimed = await session.scalars(_CLAIM_ARRAY, {"consumer": consumer, "now": now, "event_ids": unique})
        return set(claimed)
    statement = (
        insert_ignore_conflict(session, ProcessedEvent)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(col(ProcessedEvent.event_id))
    )
    # Parameters as a list (insertmanyvalues), not .values([...]): one cached statement for any batch size.
    rows = [{"consumer": consumer, "event_id": event_id, "processed_at": now} for event_id in unique]
    return set(await session.scalars(statement, rows))


def add_to_outbox(session: AsyncSession, *, topic: str, key: bytes | None, value: bytes) -> None:
    """Queue an event for publication once the surrounding transaction commits."""
    session.add(OutboxMessage(topic=topic, key=key, value=value, created_at=utcnow()))


def queue_event(session: AsyncSession, *, topic: str, key: str, envelope: pb.Envelope) -> None:
    """Queue an envelope keyed by `key` (an incident, elder or device id) for publication at commit."""
    add_to_outbox(session, topic=topic, key=key.encode(), value=envelope.SerializeToString())


@contextlib.asynccontextmanager
async def timed_transaction(sessions: async_sessionmaker[AsyncSession], operation: str) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that commits on success, with its latency measured."""
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        yield session
    metrics.DB_TRANSACTION_SECONDS.labels(operation).observe(time.perf_counter() - started)


class OutboxRelay:
    """Publishes outbox rows to Kafka in commit order, then deletes them.

    One relay works at a time per database (a PostgreSQL advisory lock), so rows
    reach Kafka in the order they were written even with several replicas.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        producer: Callable[[], Any],
        name: str,
        drain_timeout_s: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._lock_key = _lock_key(f"outbox:{name}")
        self._drain_timeout_s = drain_timeout_s
        self._wakeup = asyncio.Event()
        self._committed = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Tell the relay (and anyone waiting on `committed()`) that new rows were committed."""
        self._wakeup.set()
        # One event per generation: every waiter holding the old one wakes, later ones wait anew.
        self._committed.set()
        self._committed = asyncio.Event()

    def committed(self) -> asyncio.Event:
        """An event set at this process's next commit (live views wake on it instead of polling)."""
        return self._committed

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Finish the round in flight and relay what is already committed, then stop.

        Cancelling a round between Kafka's ack and the DELETE's commit would leave
        its rows behind, and the next start would publish them a second time.
        Only a relay that cannot finish within the drain timeout (Kafka down) is
        cancelled; its rows stay in the outbox and go out after the restart.
        """
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=self._drain_timeout_s)
        except TimeoutError:
            log.warning("outbox relay did not drain in %.1f s; stopping it", self._drain_timeout_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                relayed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                if self._stopping:
                    return
                # Kafka is down or refusing: the rows pile up, and operators should see how many.
                with contextlib.suppress(Exception):
                    await self._count_pending()
                relayed = 0
                await self._sleep_unless_woken(1.0)
            if relayed == 0:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._sleep_unless_woken(0.5)

    async def _sleep_unless_woken(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)

    async def relay_once(self, limit: int = 500) -> int:
        """Publish up to `limit` pending rows; returns how many were published."""
        oldest = select(col(OutboxMessage.id)).order_by(col(OutboxMessage.id)).limit(limit)
        async with self._sessions() as session, session.begin():
            session.info[RELAY_SESSION] = True  # its own DELETE is not news to wake itself with
            if session.get_bind().dialect.name == "postgresql":
                # The lock rides in the DELETE (an InitPlan, evaluated once): a replica that does not
                # hold it takes no rows. One statement instead of lock, SELECT and DELETE: the
                # relay sits between an SOS's commit and the dispatcher seeing it.
                locked = func.pg_try_advisory_xact_lock(self._lock_key)
                oldest = oldest.where(select(locked).scalar_subquery())
            taken = await session.execute(
                delete(OutboxMessage)
                .where(col(OutboxMessage.id).in_(oldest))
                .returning(
                    col(OutboxMessage.id),
                    col(OutboxMessage.topic),
                    col(OutboxMessage.key),
                    col(OutboxMessage.value),
                    col(OutboxMessage.created_at),
                )
            )
            # RETURNING comes in no particular order; Kafka gets them in commit (id) order. If a send
            # fails, the exception rolls the DELETE back and the rows are retried.
            rows = sorted(taken.all(), key=lambda row: row.id)
            if not rows:
                metrics.OUTBOX_PENDING.set(0)
                return 0
            producer = self._producer()
            futures = [await producer.send(row.topic, row.value, key=row.key) for row in rows]
            await asyncio.gather(*futures)
            acked_at = utcnow()
            for row in rows:
                metrics.OUTBOX_RELAYED.labels(row.topic).inc()
                metrics.OUTBOX_DELAY_SECONDS.observe((acked_at - row.created_at).total_seconds())
        if len(rows) < limit:
            metrics.OUTBOX_PENDING.set(0)  # it took everything there was (new commits wake it again)
        else:
            await self._count_pending()  # a backlog: count it, only while there is one
        return len(rows)

    async def _count_pending(self) -> int:
        async with self._sessions() as session:
            pending = int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
        metrics.OUTBOX_PENDING.set(pending)
        return pending
