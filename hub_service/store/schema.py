"""The service's own tables, notebooks, their events and environments, and how work reaches them.

SQLAlchemy Core on a synchronous driver (sqlite by default, psycopg for
PostgreSQL). Every unit of work runs in one transaction on a small thread pool
(:meth:`Database.run`), so the event loop never waits on the database: one
thread hop per unit, which measured several times faster than the asyncio
drivers' hop per statement. The schema is managed by alembic
(``hub_service/store/alembic``) and upgraded when the service starts.
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url

HERE = os.path.dirname(os.path.abspath(__file__))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes, whatever the backend stores (sqlite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(timezone.utc) if value is not None and value.tzinfo else value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


metadata = MetaData()

environments = Table(
    "environments",
    metadata,
    Column("environment_id", String(64), primary_key=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("spec", JSON, nullable=False),
    Column("created", UTCDateTime(), nullable=False),
    Column("updated", UTCDateTime(), nullable=False),
    # counts the changes of what its notebooks run (image, kernelSpec, pod settings)
    Column("revision", Integer, nullable=False, default=1),
)

# One notebook = one named server (owner, server_name) on the hub. A row holds both what the
# user asked for (desired, pending: the controller still has to carry it out) and what the
# hub last said (status, reason).
notebooks = Table(
    "notebooks",
    metadata,
    Column("notebook_id", String(64), primary_key=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("owner", String(255), nullable=False, index=True),
    Column("name", String(63), nullable=False),
    Column("server_name", String(30), nullable=False),
    Column("namespace", String(63), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("url", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("created_time", UTCDateTime(), nullable=False),
    # set when a DELETE was accepted: the notebook is gone for clients, the controller removes
    # its server and then the row
    Column("deleted_time", UTCDateTime()),
    # the hub's last activity of the server while it ran: tells an idle cull from a stop
    Column("last_activity", UTCDateTime()),
    # True once a start of its server was admitted: the server is the notebook's
    Column("admitted", Boolean, nullable=False),
    # "running" or "stopped": what the owner last asked for
    Column("desired", String(8), nullable=False),
    # True while the hub has not yet done what was asked (or the delete not carried out)
    Column("pending", Boolean, nullable=False),
    # failed attempts at the pending change, and when the controller tries again
    Column("attempts", Integer, nullable=False, default=0),
    Column("retry_at", UTCDateTime()),
    # the revision of its environment that its spec holds (None: made before revisions)
    Column("environment_revision", Integer),
    # why the service itself stops it (its environment's run-time policy), for its status
    Column("stop_reason", Text),
    UniqueConstraint("owner", "name", name="uq_notebooks_owner_name"),
    UniqueConstraint("owner", "server_name", name="uq_notebooks_owner_server"),
    Index("ix_notebooks_status", "status"),
    Index("ix_notebooks_pending", "pending"),
)

# One row per owner: a write that must see all of an owner's notebooks at once (a quota check
# and the insert it allows) locks the owner's row first.
owners = Table(
    "owners",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("version", Integer, nullable=False),
)

# Who a notebook is shared with (JupyterHub's shares grant the access; this lists them)
notebook_shares = Table(
    "notebook_shares",
    metadata,
    Column("notebook_id", String(64), primary_key=True),
    Column("kind", String(8), primary_key=True),  # "user" or "group"
    Column("name", String(255), primary_key=True),
    Column("created", UTCDateTime(), nullable=False),
    Index("ix_notebook_shares_name", "kind", "name"),
)

# Every change of a notebook's status or reason, oldest first (ids increase).
notebook_events = Table(
    "notebook_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notebook_id", String(64), nullable=False, index=True),
    Column("time", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text),
)

_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def driver_url(url: str) -> str:
    """The same database with the driver the service uses."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.get_backend_name())
    if not driver:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://...")
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def upgrade(url: str, seed_environments: list[dict]) -> None:
    """Bring the schema to the newest revision (blocking: run before serving)."""
    from alembic import command
    from alembic.config import Config

    config = Config(os.path.join(HERE, "alembic.ini"))
    config.set_main_option("script_location", os.path.join(HERE, "alembic"))
    config.attributes["url"] = driver_url(url)
    config.attributes["seed_environments"] = seed_environments
    command.upgrade(config, "head")


class Database:
    def __init__(self, url: str, threads: int = 8):
        kwargs = {"pool_size": threads, "max_overflow": 0}
        sqlite = make_url(url).get_backend_name() == "sqlite"
        if sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(driver_url(url), **kwargs)
        self._reader = None  # sqlite: the event loop's own connection, for reads only (see read())
        if sqlite:
            self._reader = create_engine(driver_url(url), **(kwargs | {"pool_size": 1}))
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self._reader, "connect", _sqlite_reader_pragmas)
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="db")

    async def run(self, work, *args, read_only: bool = False):
        """``work(connection, *args)`` in one transaction on a database thread."""

        def unit():
            with self.engine.connect() as connection:
                if read_only:
                    connection.execution_options(postgresql_readonly=True)
                with connection.begin():
                    return work(connection, *args)

        return await asyncio.get_running_loop().run_in_executor(self._threads, unit)

    async def read(self, work, *args):
        """Like :meth:`run`, for a unit that only reads (a write in it fails). On sqlite it runs
        right here, on the event loop's own connection: a read in WAL mode never waits for a
        writer, and handing it to a thread and back costs more than the read (the two contend
        for the GIL)."""
        if self._reader is None:
            return await self.run(work, *args, read_only=True)
        with self._reader.begin() as connection:
            return work(connection, *args)

    def close(self):
        self._threads.shutdown(wait=True)
        self.engine.dispose()
        if self._reader is not None:
            self._reader.dispose()


def _sqlite_pragmas(dbapi_connection, _record):
    """WAL: readers never wait for the writer."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_reader_pragmas(dbapi_connection, record):
    """The reader's connection refuses writes: one by mistake would wait for the writer's lock
    on the event loop."""
    _sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA query_only=1")
