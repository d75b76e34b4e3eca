"""What every service process has at run time: database, Kafka producer, consumers, outbox relay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from sqlalchemy import Table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from eldercare import db
from eldercare.envelope import utcnow
from eldercare.http import (
    AuthFailureThrottle,
    BodySizeLimit,
    ReadinessCheck,
    TokenRateLimiter,
    document_error_responses,
    install_error_handlers,
    ops_router,
)
from eldercare.kafka import ConsumerLoop, DeadLetterPublisher, create_producer, ensure_topics
from eldercare.logs import setup_logging
from eldercare.metrics import INBOX_PRUNED, RETENTION_PRUNED
from eldercare.settings import BaseProcessSettings, ServiceSettings

log = logging.getLogger(__name__)


def safe_url(url: str) -> str:
    """The URL with any password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


async def start_with_retry(name: str, start: Callable[[], object], *, attempts: int = 60) -> None:
    """Start a client whose broker may still be coming up, with backoff."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            result = start()
            if asyncio.iscoroutine(result):
                await result
            return
        except (KafkaError, OSError) as exc:
            if attempt == attempts:
                raise
            log.warning("%s not reachable yet (%s); retrying in %.1fs", name, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)


@dataclass(frozen=True)
class RetentionJob:
    """Rows of `table` older than `keep` by `column` are deleted."""

    table: Table
    column: str
    keep: timedelta


class ServiceRuntime:
    """Owns a service's engine, sessions, producer, consumers and outbox relay."""

    def __init__(self, settings: ServiceSettings, *, migrations_dir: Path) -> None:
        self.settings = settings
        self.database_url = settings.resolved_database_url()
        self.migrations_dir = migrations_dir
        self.engine: AsyncEngine = db.create_engine(
            self.database_url,
            command_timeout=settings.database_command_timeout_seconds,
            connect_timeout=settings.database_connect_timeout_seconds,
        )
        # Every commit that wrote wakes the outbox relay (and live views waiting on a commit).
        self.sessions: async_sessionmaker[AsyncSession] = db.session_factory(
            self.engine, after_write_commit=lambda: self.outbox.notify()
        )
        # Kafka clients bind to the running event loop, so start() creates them.
        self._producer: AIOKafkaProducer | None = None
        self.dead_letters = DeadLetterPublisher(self._get_producer, settings.service_name)
        self.outbox = db.OutboxRelay(sessions=self.sessions, producer=self._get_producer, name=settings.service_name)
        self.consumers: list[ConsumerLoop] = []
        # Periodic jobs (sweeps, gauge refreshers) run as tasks between start() and stop().
        self.background: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._background_tasks: list[asyncio.Task[None]] = []
        # Tables whose old rows are deleted with the inbox's (keep_for).
        self.retention: list[RetentionJob] = []

    def _get_producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "runtime not started"
        return self._producer

    @property
    def producer(self) -> AIOKafkaProducer:
        return self._get_producer()

    def add_consumer(self, **kwargs: object) -> ConsumerLoop:
        """Register a consumer loop started with the service."""
        loop = ConsumerLoop(settings=self.settings, dead_letters=self.dead_letters, **kwargs)  # type: ignore[arg-type]
        self.consumers.append(loop)
        return loop

    async def check_database(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def check_kafka(self) -> None:
        await self.producer.client.fetch_all_metadata()

    def readiness_checks(self) -> Iterable[tuple[str, ReadinessCheck]]:
        yield "database", self.check_database
        yield "kafka", self.check_kafka

    async def start(self) -> None:
        log.info("database %s", safe_url(self.database_url))
        await db.ensure_database(self.database_url)
        # PostgreSQL: an engine of their own without the statement timeout, as a migration may rewrite
        # a large table (and replicas queue on its lock). SQLite has no such timeout.
        migrator = self.engine
        if self.engine.dialect.name == "postgresql":
            migrator = db.create_engine(
                self.database_url, command_timeout=None, connect_timeout=self.settings.database_connect_timeout_seconds
            )
        try:
            await db.run_migrations(migrator, self.migrations_dir)
        finally:
            if migrator is not self.engine:
                await migrator.dispose()
        self._producer = create_producer(self.settings, fast_lane=True)
        await start_with_retry("kafka", self._producer.start)
        await start_with_retry("kafka topics", lambda: ensure_topics(self.settings))
        await self.outbox.start()
        # Each consumer bootstraps its own connections; starting them together keeps start-up short.
        await asyncio.gather(
            *(start_with_retry(f"consumer {consumer.name}", consumer.start) for consumer in self.consumers)
        )
        jobs = [*self.background, self._prune]
        self._background_tasks = [asyncio.create_task(job(), name=job.__name__) for job in jobs]

    def keep_for(self, table: Table, *, column: str, keep: timedelta) -> None:
        """Delete `table`'s rows once `column` is older than `keep`, in the hourly prune rounds."""
        self.retention.append(RetentionJob(table=table, column=column, keep=keep))

    async def prune_once(self) -> dict[str, int]:
        """One round: the inbox past the dedup window, then each table past its retention; rows deleted by table."""
        window = timedelta(seconds=self.settings.dedup_window_seconds)
        inbox = RetentionJob(table=db.ProcessedEvent.__table__, column="processed_at", keep=window)  # type: ignore[attr-defined]
        pruned: dict[str, int] = {}
        for job in [inbox, *self.retention]:
            name = job.table.name
            pruned[name] = 0
            while True:  # in batches, each its own transaction
                async with self.sessions() as session, session.begin():
                    batch = await db.prune_rows(session, job.table, column=job.column, before=utcnow() - job.keep)
                pruned[name] += batch
                if batch < 10_000:
                    break
            if pruned[name]:
                if job is inbox:
                    INBOX_PRUNED.labels(self.settings.service_name).inc(pruned[name])
                RETENTION_PRUNED.labels(self.settings.service_name, name).inc(pruned[name])
                log.info("retention: deleted %d rows of %s older than %s", pruned[name], name, job.keep)
        return pruned

    async def _prune(self) -> None:
        """Prune now and then; a failure waits for the next round."""
        interval = self.settings.inbox_prune_interval_seconds
        while True:
            # Not at start-up: a service coming back from an outage drains its backlog first.
            await asyncio.sleep(interval)
            try:
                await self.prune_once()
            except Exception as exc:  # the database is down: the next round tries again
                log.warning("prune failed (%s); next try in %.0f s", db.describe_error(exc), interval)

    async def stop(self) -> None:
        for task in self._background_tasks:
            task.cancel()
        await asyncio.gather(*self._background_tasks, return_exceptions=True)
        for consumer in self.consumers:
            await consumer.stop()
        await self.outbox.stop()
        if self._producer is not None:
            await self._producer.stop()
        await self.engine.dispose()


def build_app(*, title: str, settings: ServiceSettings, runtime: ServiceRuntime, description: str = "") -> FastAPI:
    """A FastAPI app with the ops endpoints, error handlers and the runtime's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("%s ready on http://%s:%s", title, settings.http_host, settings.http_port)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.principals = settings.principals
    app.state.rate_limiter = TokenRateLimiter(rate_per_s=settings.api_rate_per_s, burst=settings.api_burst)
    app.state.runtime = runtime
    app.state.auth_throttle = AuthFailureThrottle(
        allowed=settings.auth_failures_allowed, window_s=settings.auth_failure_window_seconds
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.http_max_body_bytes)
    app.include_router(ops_router(runtime.readiness_checks))
    install_error_handlers(app)
    document_error_responses(app)
    return app


def serve(app: FastAPI, settings: BaseProcessSettings, port: int, process: str) -> None:
    """Run the app under uvicorn with the project's logging."""
    setup_logging(settings.log_level, process)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # libuv's loop: every round trip to PostgreSQL and Kafka costs less Python; the SOS
        # transaction measured 15-20 % shorter. Named, so a missing uvloop fails instead of downgrading.
        loop="uvloop",
        # HTTPS when HTTP_TLS_CERT/HTTP_TLS_KEY are set (the settings refuse one without the other).
        ssl_certfile=str(settings.http_tls_cert) if settings.http_tls_cert else None,
        ssl_keyfile=str(settings.http_tls_key) if settings.http_tls_key else None,
    )
