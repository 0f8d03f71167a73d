"""Keeping notebook statuses current from the hub.

Two mechanisms. A *watcher* follows each pending spawn's progress stream, so
``reason`` carries the latest progress message and ``running`` or ``failed``
lands the moment the hub knows. A *reconcile* pass every ``interval`` seconds
reads every server from the hub's user list and corrects what the watchers
cannot see: servers stopped, culled, crashed or removed outside the API,
servers made from the hub's home page (adopted as notebooks), and the state
after the service or the hub restarted.

Every write goes through :mod:`history`: compare-and-set on the status read, so
a watcher and a reconcile pass that race never undo each other, and each
change lands in the notebook's events.
"""

import asyncio
import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import history, metrics, statuses
from .db import Database, notebooks, utcnow
from .hub_client import HubClient, HubError
from .records import row_for_server

log = logging.getLogger(__name__)

# a row the hub has never had and older than this is a create that died half-way
ORPHAN_AGE = timedelta(minutes=2)


def hub_time(text: str | None) -> datetime | None:
    """The hub's ISO 8601 times (``...Z``) as aware datetimes."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class StatusSync:
    def __init__(self, database: Database, hub: HubClient, interval: float, base_url: str,
                 extended_resources=(), cull_idle_timeout: float = 0):
        self.database = database
        self.hub = hub
        self.interval = interval
        self.base_url = base_url
        self.extended_resources = extended_resources
        self.cull_idle_timeout = cull_idle_timeout
        self.watchers: dict[str, asyncio.Task] = {}
        self._loop_task: asyncio.Task | None = None

    def start(self):
        self._loop_task = asyncio.ensure_future(self._run())

    async def stop(self):
        tasks = [t for t in [self._loop_task, *self.watchers.values()] if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self):
        while True:
            try:
                await self.reconcile()
            except HubError as e:
                log.warning("Status sync: the hub did not answer (%s); retrying in %gs", e, self.interval)
            except Exception:
                log.exception("Status sync failed; retrying in %gs", self.interval)
            await asyncio.sleep(self.interval)

    # --- watchers -------------------------------------------------------------------

    def watch(self, notebook_id: str, owner: str, server: str, requested: float | None = None):
        """Follow a pending spawn until it is ready or failed (one watcher per notebook).

        ``requested`` (a ``time.monotonic()``) is when the start was asked for: the spawn
        duration metric counts from it.
        """
        if notebook_id in self.watchers:
            return
        task = asyncio.ensure_future(self._follow(notebook_id, owner, server, requested))
        self.watchers[notebook_id] = task
        task.add_done_callback(lambda _: self.watchers.pop(notebook_id, None))

    async def _follow(self, notebook_id, owner, server, requested):
        try:
            async for event in self.hub.progress(owner, server):
                if await self._apply_event(notebook_id, event) == statuses.RUNNING and requested:
                    metrics.SPAWN_DURATION.observe(time.monotonic() - requested)
        except HubError as e:
            # not starting (any more), or gone: the reconcile pass has the last word
            log.debug("Progress of %s/%s ended: %s", owner, server, e)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Following the progress of %s/%s failed", owner, server)

    async def _apply_event(self, notebook_id, event) -> str | None:
        """The status the event moved the notebook to, if it did."""
        query = select(notebooks.c.status).where(notebooks.c.notebook_id == notebook_id)
        for _ in range(3):  # retry if a reconcile pass changed the status under us
            current = await self.database.run(lambda connection: connection.execute(query).scalar())
            if current is None:
                return None
            change = statuses.from_progress(event, current)
            if change is None:
                return None
            if await history.change(self.database, notebook_id, *change, expected=current):
                return change[0]
        return None

    # --- reconcile ------------------------------------------------------------------

    def stopped_reason(self, last_activity) -> str:
        """Why a running server stopped when nobody asked through the API: the idle
        culler when it had been idle for the cull timeout, else a plain stop."""
        if self.cull_idle_timeout and last_activity:
            idle = (utcnow() - last_activity).total_seconds()
            if idle >= self.cull_idle_timeout:
                return (f"Stopped by the idle culler: no activity for {idle / 60:.0f} min "
                        f"(the limit is {self.cull_idle_timeout / 60:g} min); start it again to use it")
        return statuses.REASONS[statuses.STOPPED]

    async def reconcile(self):
        # rows first, hub second: the hub's answer is never older than the rows it corrects
        columns = [notebooks.c[name] for name in ("notebook_id", "owner", "server_name", "status", "on_hub",
                                                  "deleted_time", "created_time", "last_activity")]
        rows = await self.database.run(lambda connection: connection.execute(select(*columns)).all())
        users = await self.hub.list_users()
        servers = {
            (user["name"], name): server
            for user in users
            for name, server in (user.get("servers") or {}).items()
        }
        gone, known = [], set()
        for row in rows:
            known.add((row.owner, row.server_name))
            server = servers.get((row.owner, row.server_name))
            if server is None:
                if row.deleted_time or row.on_hub or utcnow() - row.created_time > ORPHAN_AGE:
                    gone.append(row.notebook_id)
                continue
            if row.deleted_time or not row.on_hub:
                continue  # a delete or a create in flight: theirs to finish
            if server.get("pending") == "spawn":
                self.watch(row.notebook_id, row.owner, row.server_name)
            change = statuses.from_server(server, row.status, self.stopped_reason(row.last_activity))
            if change:
                await history.change(self.database, row.notebook_id, *change, expected=row.status)
            activity = hub_time(server.get("last_activity"))
            if server.get("ready") and activity and activity != row.last_activity:
                await self._note_activity(row.notebook_id, activity)
        if gone:
            log.info("Removing %d notebook(s) whose servers are gone from the hub", len(gone))
            await self.database.run(_remove, gone)
        for (owner, name), server in servers.items():
            if name and (owner, name) not in known:
                await self._adopt(owner, name, server)

    async def _note_activity(self, notebook_id, activity):
        statement = update(notebooks).where(notebooks.c.notebook_id == notebook_id).values(last_activity=activity)
        await self.database.run(lambda connection: connection.execute(statement))

    async def _adopt(self, owner, name, server):
        """A named server made on the hub (the home page's form) becomes a notebook."""
        row = row_for_server(owner, name, server, self.base_url, self.extended_resources)
        if row is None:
            return  # not made with a notebook's options: a plain server, not ours
        try:
            await self.database.run(_insert, row)
        except IntegrityError:
            log.debug("Not adopting %s/%s: its notebook id or name is taken", owner, name)
            return
        log.info("Notebook %s: %s/%s made on the hub", row["notebook_id"], owner, name)
        if server.get("pending") == "spawn":
            self.watch(row["notebook_id"], owner, name)


def _insert(connection, row):
    connection.execute(insert(notebooks).values(row))
    history.record(connection, row["notebook_id"], row["status"], row["reason"])


def _remove(connection, notebook_ids):
    connection.execute(delete(notebooks).where(notebooks.c.notebook_id.in_(notebook_ids)))
    history.forget(connection, notebook_ids)
