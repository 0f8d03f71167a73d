"""A notebook's history: every change of its status or reason, recorded as it is made.

All status writes go through :func:`set_status`, so the history is complete and a
watcher, a reconcile pass and a request racing on one notebook never undo each
other (compare-and-set on the status they read).
"""

from sqlalchemy import delete, insert, select, update

from . import metrics
from .db import notebook_events, notebooks, utcnow


def record(connection, notebook_id: str, status: str, message: str | None):
    connection.execute(insert(notebook_events).values(
        notebook_id=notebook_id, time=utcnow(), status=status, message=message))


def set_status(connection, notebook_id: str, status: str, reason: str | None, expected=None) -> str | None:
    """Move a live notebook to ``(status, reason)`` if its status is still ``expected``
    (any, when None). The status it had; None when it was not as expected, or is gone."""
    current = connection.execute(select(notebooks.c.status, notebooks.c.reason).where(
        notebooks.c.notebook_id == notebook_id, notebooks.c.deleted_time.is_(None))).first()
    if current is None or (expected is not None and current.status != expected):
        return None
    if (current.status, current.reason) == (status, reason):
        return current.status
    changed = connection.execute(
        update(notebooks).where(notebooks.c.notebook_id == notebook_id, notebooks.c.status == current.status)
        .values(status=status, reason=reason)
    ).rowcount == 1
    if not changed:
        return None
    record(connection, notebook_id, status, reason)
    return current.status


async def change(database, notebook_id: str, status: str, reason: str | None, expected=None) -> bool:
    """:func:`set_status` on a database thread; entering a status is counted in the metrics."""
    previous = await database.run(set_status, notebook_id, status, reason, expected)
    if previous is not None and previous != status:
        metrics.STATUS_CHANGES.labels(status).inc()
    return previous is not None


def since(connection, notebook_id: str, after: int = 0) -> list[dict]:
    """Events after the one with id ``after``, oldest first."""
    rows = connection.execute(
        select(notebook_events).where(notebook_events.c.notebook_id == notebook_id, notebook_events.c.id > after)
        .order_by(notebook_events.c.id)
    ).mappings().all()
    return [dict(row) for row in rows]


def forget(connection, notebook_ids):
    """A deleted notebook's history goes with it."""
    connection.execute(delete(notebook_events).where(notebook_events.c.notebook_id.in_(list(notebook_ids))))
