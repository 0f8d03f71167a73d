"""The service's own tables: notebooks and environments.

SQLAlchemy 2 with asyncio drivers (aiosqlite by default, psycopg for
PostgreSQL); the schema is managed by alembic (``hub_service/alembic``) and
upgraded when the service starts.
"""

import os
from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, String, Text, UniqueConstraint, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

HERE = os.path.dirname(os.path.abspath(__file__))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(DateTime):
    """Timezone-aware UTC on the way out, whatever the backend stores."""

    cache_ok = True

    def __init__(self):
        super().__init__(timezone=True)

    def result_processor(self, dialect, coltype):
        parent = super().result_processor(dialect, coltype)

        def process(value):
            if parent:
                value = parent(value)
            if value is not None and value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            return value

        return process


class Base(DeclarativeBase):
    pass


class Environment(Base):
    __tablename__ = "environments"

    environment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    spec: Mapped[dict] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Notebook(Base):
    """One notebook = one named server (owner, server_name) on the hub."""

    __tablename__ = "notebooks"
    __table_args__ = (
        UniqueConstraint("owner", "name", name="uq_notebooks_owner_name"),
        UniqueConstraint("owner", "server_name", name="uq_notebooks_owner_server"),
    )

    notebook_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(63))
    server_name: Mapped[str] = mapped_column(String(30))
    namespace: Mapped[str] = mapped_column(String(63))
    spec: Mapped[dict] = mapped_column(JSON)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_time: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # set when a DELETE was accepted; the row goes once the hub has removed the server
    deleted_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # True once the hub has the named server; rows never seen there are creates in flight
    on_hub: Mapped[bool] = mapped_column(Boolean, default=False)


_DRIVERS = {  # backend: (synchronous driver for alembic, asyncio driver for serving)
    "sqlite": ("sqlite", "sqlite+aiosqlite"),
    "postgresql": ("postgresql+psycopg", "postgresql+psycopg"),
}


def driver_url(url: str, asynchronous: bool) -> str:
    """The same database with the driver the caller needs."""
    parsed = make_url(url)
    drivers = _DRIVERS.get(parsed.get_backend_name())
    if not drivers:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://...")
    return parsed.set(drivername=drivers[asynchronous]).render_as_string(hide_password=False)


def upgrade(url: str, seed_environments: list[dict]) -> None:
    """Bring the schema to the newest revision (blocking: run before serving)."""
    from alembic import command
    from alembic.config import Config

    config = Config(os.path.join(HERE, "alembic.ini"))
    config.set_main_option("script_location", os.path.join(HERE, "alembic"))
    config.attributes["url"] = driver_url(url, asynchronous=False)
    config.attributes["seed_environments"] = seed_environments
    command.upgrade(config, "head")


def connect(url: str) -> tuple[AsyncEngine, async_sessionmaker]:
    """An async engine and session factory; sqlite gets WAL and a busy timeout."""
    kwargs = {}
    if make_url(url).get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(driver_url(url, asynchronous=True), **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine, async_sessionmaker(engine, expire_on_commit=False)
