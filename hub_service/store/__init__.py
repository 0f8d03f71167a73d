"""Every read and write of the service's tables, as named functions over a connection.

Each function takes a connection in a transaction (:meth:`Database.run` makes one), so a
use-case composes several into one unit of work. Status changes go through
:func:`set_status`, which records each one in the notebook's events: the history is complete.
"""

from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .. import statuses
from .schema import environments, notebook_events, notebook_shares, notebooks, owners, utcnow

LIVE = notebooks.c.deleted_time.is_(None)


def _one(result) -> dict | None:
    row = result.mappings().first()
    return dict(row) if row is not None else None


# --- owners -------------------------------------------------------------------------------


def lock_owner(connection, owner: str):
    """Serialise the writes of one owner's notebooks until the transaction ends: the first
    statement of a unit that must see all of them (a quota check and the insert it allows).
    A row lock on PostgreSQL; sqlite's one writer lock, taken by this first write."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(dialect.insert(owners).values(name=owner, version=0).on_conflict_do_nothing())
    connection.execute(update(owners).where(owners.c.name == owner).values(version=owners.c.version + 1))


# --- notebooks: reads ---------------------------------------------------------------------


# the hottest reads are built once: SQLAlchemy then skips building and keying them per call
NOTEBOOK_BY_ID = select(notebooks).where(notebooks.c.notebook_id == bindparam("notebook_id"))
LIVE_NOTEBOOK_BY_ID = NOTEBOOK_BY_ID.where(LIVE)
ENVIRONMENT_BY_NAME = select(environments).where(environments.c.name == bindparam("name"))
ENVIRONMENTS_BY_NAMES = select(environments).where(environments.c.name.in_(bindparam("names", expanding=True)))


def notebook(connection, notebook_id: str, live: bool = True) -> dict | None:
    """A notebook by id: a live one, or (``live=False``) one being deleted too."""
    query = LIVE_NOTEBOOK_BY_ID if live else NOTEBOOK_BY_ID
    return _one(connection.execute(query, {"notebook_id": notebook_id}))


def notebook_on_server(connection, owner: str, server: str) -> dict | None:
    """The notebook (live or being deleted) that is ``owner``'s named server ``server``."""
    return _one(
        connection.execute(select(notebooks).where(notebooks.c.owner == owner, notebooks.c.server_name == server))
    )


def name_conflict(connection, owner: str, name: str, server: str) -> dict | None:
    """A notebook of ``owner`` with this name, or on this server."""
    return _one(
        connection.execute(
            select(notebooks.c.name, notebooks.c.deleted_time).where(
                notebooks.c.owner == owner, (notebooks.c.name == name) | (notebooks.c.server_name == server)
            )
        )
    )


def _shared_with(user: str, groups) -> select:
    """The ids of the notebooks shared with ``user`` or one of their ``groups``."""
    shares = notebook_shares.c
    return select(shares.notebook_id).where(
        ((shares.kind == "user") & (shares.name == user)) | ((shares.kind == "group") & shares.name.in_(list(groups)))
    )


def page(connection, owner: str | None, status: str | None, limit: int | None, offset: int, shared=None):
    """``(total, rows)`` of live notebooks (of ``owner``, and with ``shared`` = ``(user, groups)``
    those shared with them too), oldest first."""
    where = [LIVE]
    if owner is not None and shared is not None:
        where.append((notebooks.c.owner == owner) | notebooks.c.notebook_id.in_(_shared_with(*shared)))
    elif owner is not None:
        where.append(notebooks.c.owner == owner)
    if status is not None:
        where.append(notebooks.c.status == status)
    total = connection.execute(select(func.count()).select_from(notebooks).where(*where)).scalar()
    query = (
        select(notebooks)
        .where(*where)
        .order_by(notebooks.c.created_time, notebooks.c.notebook_id)
        .offset(offset)
        .limit(limit)
    )
    return total, [dict(row) for row in connection.execute(query).mappings()]


def counts(connection) -> dict[str, int]:
    """How many live notebooks have each status."""
    query = select(notebooks.c.status, func.count()).where(LIVE).group_by(notebooks.c.status)
    return dict(connection.execute(query).all())


def status_of(connection, notebook_id: str) -> str | None:
    return connection.execute(select(notebooks.c.status).where(notebooks.c.notebook_id == notebook_id, LIVE)).scalar()


SYNC_COLUMNS = [
    notebooks.c[name]
    for name in (
        "notebook_id",
        "owner",
        "server_name",
        "status",
        "reason",
        "desired",
        "pending",
        "deleted_time",
        "last_activity",
    )
]


def in_transition(connection) -> list[dict]:
    """Notebooks starting or stopping with no change pending, for the quick pass."""
    return [
        dict(row)
        for row in connection.execute(
            select(*SYNC_COLUMNS).where(
                notebooks.c.status.in_(statuses.STARTING | {statuses.TERMINATING}),
                LIVE,
                notebooks.c.pending.is_(False),
            )
        ).mappings()
    ]


def running(connection) -> list[dict]:
    """Running notebooks with nothing pending, and their specs (for the culler)."""
    return [
        dict(row)
        for row in connection.execute(
            select(notebooks.c.notebook_id, notebooks.c.owner, notebooks.c.server_name, notebooks.c.spec).where(
                notebooks.c.status == statuses.RUNNING, LIVE, notebooks.c.pending.is_(False)
            )
        ).mappings()
    ]


def settled(connection) -> list[dict]:
    """Every notebook with no change pending, for the full pass."""
    return [
        dict(row)
        for row in connection.execute(select(*SYNC_COLUMNS).where(notebooks.c.pending.is_(False), LIVE)).mappings()
    ]


def due(connection, now: datetime) -> list[str]:
    """Notebooks with a pending change whose next attempt is due (and that no replica holds)."""
    return (
        connection.execute(
            select(notebooks.c.notebook_id).where(
                notebooks.c.pending.is_(True), (notebooks.c.retry_at.is_(None)) | (notebooks.c.retry_at <= now)
            )
        )
        .scalars()
        .all()
    )


def usage_rows(connection, owner: str, excluding: str | None = None) -> list:
    """``(status, spec)`` of ``owner``'s notebooks but ``excluding``, deleted ones aside."""
    query = select(notebooks.c.status, notebooks.c.spec).where(notebooks.c.owner == owner, LIVE)
    if excluding:
        query = query.where(notebooks.c.notebook_id != excluding)
    return connection.execute(query).all()


# --- notebooks: writes --------------------------------------------------------------------


def insert_notebook(connection, row: dict):
    connection.execute(insert(notebooks).values(row))
    record(connection, row["notebook_id"], row["status"], row["reason"])


def set_status(connection, notebook_id: str, status: str, reason: str | None, expected=None) -> str | None:
    """Move a live notebook to ``(status, reason)`` if its status is still ``expected`` (a
    status or a set of them; any when None), and record the change. The status it had;
    None when it was not as expected, or is gone."""
    for _ in range(3):  # another transaction changed it between the read and the write: read again
        current = connection.execute(
            select(notebooks.c.status, notebooks.c.reason).where(notebooks.c.notebook_id == notebook_id, LIVE)
        ).first()
        if current is None or not _matches(current.status, expected):
            return None
        if (current.status, current.reason) == (status, reason):
            return current.status
        changed = connection.execute(
            update(notebooks)
            .where(notebooks.c.notebook_id == notebook_id, notebooks.c.status == current.status)
            .values(status=status, reason=reason)
        ).rowcount
        if changed == 1:
            record(connection, notebook_id, status, reason)
            return current.status
    return None


def _matches(status: str, expected) -> bool:
    if expected is None:
        return True
    return status in expected if isinstance(expected, (set, frozenset, tuple)) else status == expected


def ask(connection, notebook_id: str, desired: str, status: str, reason: str, held: datetime, expected=None) -> bool:
    """Record that the owner asked for ``desired`` (running or stopped): a pending change for the
    controller, and the status that says so. The replica that asks carries it out; the leader's
    retries leave it alone until ``held``. False if the notebook is gone or its status is not
    ``expected``."""
    if set_status(connection, notebook_id, status, reason, expected) is None:
        return False
    connection.execute(
        update(notebooks)
        .where(notebooks.c.notebook_id == notebook_id)
        .values(desired=desired, pending=True, attempts=0, retry_at=held)
    )
    return True


def mark_deleted(connection, notebook_id: str, held: datetime) -> bool:
    """A DELETE: gone for clients at once, a pending removal for the controller (see ``ask``
    for ``held``). False if it already was."""
    if set_status(connection, notebook_id, statuses.TERMINATING, statuses.REASONS[statuses.TERMINATING]) is None:
        return False
    return (
        connection.execute(
            update(notebooks)
            .where(notebooks.c.notebook_id == notebook_id, LIVE)
            .values(deleted_time=utcnow(), pending=True, attempts=0, retry_at=held)
        ).rowcount
        == 1
    )


def done(connection, notebook_id: str, desired: str | None = None, expect_pending: bool | None = None) -> bool:
    """The hub did what was asked (or, with ``desired``, the hub's own doors changed the notebook
    to that): nothing pending. With ``expect_pending``, only if ``pending`` still is that."""
    query = update(notebooks).where(notebooks.c.notebook_id == notebook_id, LIVE)
    if expect_pending is not None:
        query = query.where(notebooks.c.pending.is_(expect_pending))
    values = {"pending": False, "attempts": 0, "retry_at": None}
    if desired:
        values["desired"] = desired
    return connection.execute(query.values(**values)).rowcount == 1


def call_off(connection, notebook_id: str, status: str, reason: str | None) -> bool:
    """A start the hub refused: the notebook back to ``(status, reason)``, unless its start
    was admitted meanwhile (or it is gone). Whether it was called off."""
    row = notebook(connection, notebook_id)
    if row is None or not row["pending"] or row["desired"] != "running":
        return False
    set_status(connection, notebook_id, status, reason)
    return done(connection, notebook_id, "stopped", True)


def admit(connection, notebook_id: str):
    """A start of the notebook's server was admitted: it is the notebook's, wanted running, and
    whatever start was pending is done."""
    connection.execute(
        update(notebooks)
        .where(notebooks.c.notebook_id == notebook_id)
        .values(admitted=True, desired="running", pending=False, attempts=0, retry_at=None, stop_reason=None)
    )


def set_stop_reason(connection, notebook_id: str, reason: str):
    """Why the service itself stops the notebook: its status says so once stopped."""
    connection.execute(update(notebooks).where(notebooks.c.notebook_id == notebook_id).values(stop_reason=reason))


def retry_later(connection, notebook_id: str, attempts: int, at: datetime):
    connection.execute(
        update(notebooks).where(notebooks.c.notebook_id == notebook_id).values(attempts=attempts, retry_at=at)
    )


def change_spec(connection, notebook_id: str, spec: dict, revision: int | None, message: str):
    """A new spec (and the revision of its environment it holds), recorded in its events."""
    connection.execute(
        update(notebooks)
        .where(notebooks.c.notebook_id == notebook_id)
        .values(spec=spec, environment_revision=revision)
    )
    record(connection, notebook_id, status_of(connection, notebook_id), message)


def note_activity(connection, notebook_id: str, activity: datetime):
    connection.execute(update(notebooks).where(notebooks.c.notebook_id == notebook_id).values(last_activity=activity))


def remove(connection, notebook_ids):
    """Rows, histories and shares of notebooks whose servers are gone."""
    notebook_ids = list(notebook_ids)
    for table in (notebooks, notebook_events, notebook_shares):
        connection.execute(delete(table).where(table.c.notebook_id.in_(notebook_ids)))


# --- notebook shares ----------------------------------------------------------------------


def shared_with(connection, notebook_id: str, user: str, groups) -> bool:
    return (
        connection.execute(_shared_with(user, groups).where(notebook_shares.c.notebook_id == notebook_id)).first()
        is not None
    )


def shared_with_groups(connection) -> list[dict]:
    """Live notebooks shared with a group."""
    query = select(notebooks.c.notebook_id, notebooks.c.owner, notebooks.c.server_name).where(
        LIVE,
        (notebooks.c.notebook_id.in_(select(notebook_shares.c.notebook_id).where(notebook_shares.c.kind == "group"))),
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def shares_of(connection, notebook_id: str) -> list[dict]:
    return [
        dict(row)
        for row in connection.execute(
            select(notebook_shares)
            .where(notebook_shares.c.notebook_id == notebook_id)
            .order_by(notebook_shares.c.created)
        ).mappings()
    ]


def add_share(connection, notebook_id: str, kind: str, name: str):
    if not connection.execute(
        select(notebook_shares.c.name).where(
            notebook_shares.c.notebook_id == notebook_id,
            notebook_shares.c.kind == kind,
            notebook_shares.c.name == name,
        )
    ).first():
        connection.execute(
            insert(notebook_shares).values(notebook_id=notebook_id, kind=kind, name=name, created=utcnow())
        )


def remove_share(connection, notebook_id: str, kind: str, name: str) -> bool:
    return (
        connection.execute(
            delete(notebook_shares).where(
                notebook_shares.c.notebook_id == notebook_id,
                notebook_shares.c.kind == kind,
                notebook_shares.c.name == name,
            )
        ).rowcount
        == 1
    )


# --- notebook events ----------------------------------------------------------------------


def record(connection, notebook_id: str, status: str, message: str | None):
    connection.execute(
        insert(notebook_events).values(notebook_id=notebook_id, time=utcnow(), status=status, message=message)
    )


def events_since(connection, notebook_id: str, after: int = 0) -> list[dict]:
    """Events after the one with id ``after``, oldest first."""
    rows = connection.execute(
        select(notebook_events)
        .where(notebook_events.c.notebook_id == notebook_id, notebook_events.c.id > after)
        .order_by(notebook_events.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def start_time(connection, notebook_id: str) -> datetime | None:
    """When the notebook's latest start was asked for: the first of the starting events that
    lead up to its latest event."""
    started = None
    query = (
        select(notebook_events.c.time, notebook_events.c.status)
        .where(notebook_events.c.notebook_id == notebook_id)
        .order_by(notebook_events.c.id.desc())
    )
    for time, status in connection.execute(query):
        if status not in statuses.STARTING and started is not None:
            break
        if status in statuses.STARTING:
            started = time
    return started


# --- environments -------------------------------------------------------------------------


def environment(connection, name: str) -> dict | None:
    return _one(connection.execute(ENVIRONMENT_BY_NAME, {"name": name}))


def environments_for(connection, rows, redirects: int = 8) -> dict[str, dict]:
    """The environments the notebook ``rows`` name, and those they redirect to, by name."""
    found: dict[str, dict] = {}
    wanted = {row["spec"]["environment"]["name"] for row in rows}
    for _ in range(redirects + 1):
        wanted -= set(found)
        if not wanted:
            break
        result = connection.execute(ENVIRONMENTS_BY_NAMES, {"names": sorted(wanted)})
        fetched = [dict(row) for row in result.mappings()]
        found.update((row["name"], row) for row in fetched)
        wanted = {row["spec"]["redirectTo"] for row in fetched if row["spec"].get("redirectTo")}
    return found


def all_environments(connection) -> list[dict]:
    return [dict(row) for row in connection.execute(select(environments).order_by(environments.c.name)).mappings()]


def insert_environment(connection, row: dict):
    connection.execute(insert(environments).values(row))


def change_environment(connection, name: str, spec: dict, revision: int):
    connection.execute(
        update(environments).where(environments.c.name == name).values(spec=spec, revision=revision, updated=utcnow())
    )


def delete_environment(connection, name: str):
    connection.execute(delete(environments).where(environments.c.name == name))
