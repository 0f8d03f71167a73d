"""Keeping notebook statuses current from the hub.

Two mechanisms. A *watcher* follows each pending spawn's progress stream, so
``reason`` carries the latest progress message and ``running`` or ``failed``
lands the moment the hub knows. A *reconcile* pass every ``interval`` seconds
reads every server from the hub's user list and corrects what the watchers
cannot see: servers stopped, culled, crashed or removed outside the API,
servers made from the hub's home page (adopted as notebooks), and the state
after the service or the hub restarted.

Every write is compare-and-set on the status it read, so a watcher and a
reconcile pass that race never undo each other.
"""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import statuses
from .db import Database, notebooks, utcnow
from .hub_client import HubClient, HubError
from .records import row_for_server

log = logging.getLogger(__name__)

# a row the hub has never had and older than this is a create that died half-way
ORPHAN_AGE = timedelta(minutes=2)


class StatusSync:
    def __init__(self, database: Database, hub: HubClient, interval: float, base_url: str,
                 extended_resources=()):
        self.database = database
        self.hub = hub
        self.interval = interval
        self.base_url = base_url
        self.extended_resources = extended_resources
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

    async def set_status(self, notebook_id: str, expected: str, change) -> bool:
        """Compare-and-set ``(status, reason)`` if the row still has ``expected``."""
        status, reason = change
        statement = (
            update(notebooks)
            .where(notebooks.c.notebook_id == notebook_id, notebooks.c.status == expected,
                   notebooks.c.deleted_time.is_(None))
            .values(status=status, reason=reason)
        )
        return await self.database.run(lambda connection: connection.execute(statement).rowcount) == 1

    # --- watchers -------------------------------------------------------------------

    def watch(self, notebook_id: str, owner: str, server: str):
        """Follow a pending spawn until it is ready or failed (one watcher per notebook)."""
        if notebook_id in self.watchers:
            return
        task = asyncio.ensure_future(self._follow(notebook_id, owner, server))
        self.watchers[notebook_id] = task
        task.add_done_callback(lambda _: self.watchers.pop(notebook_id, None))

    async def _follow(self, notebook_id, owner, server):
        try:
            async for event in self.hub.progress(owner, server):
                await self._apply_event(notebook_id, event)
        except HubError as e:
            # not starting (any more), or gone: the reconcile pass has the last word
            log.debug("Progress of %s/%s ended: %s", owner, server, e)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Following the progress of %s/%s failed", owner, server)

    async def _apply_event(self, notebook_id, event):
        query = select(notebooks.c.status).where(notebooks.c.notebook_id == notebook_id)
        for _ in range(3):  # retry if a reconcile pass changed the status under us
            current = await self.database.run(lambda connection: connection.execute(query).scalar())
            if current is None:
                return
            change = statuses.from_progress(event, current)
            if change is None or await self.set_status(notebook_id, current, change):
                return

    # --- reconcile ------------------------------------------------------------------

    async def reconcile(self):
        # rows first, hub second: the hub's answer is never older than the rows it corrects
        columns = [notebooks.c[name] for name in ("notebook_id", "owner", "server_name", "status", "on_hub",
                                                  "deleted_time", "created_time")]
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
            change = statuses.from_server(server, row.status)
            if change:
                await self.set_status(row.notebook_id, row.status, change)
        if gone:
            log.info("Removing %d notebook(s) whose servers are gone from the hub", len(gone))
            statement = delete(notebooks).where(notebooks.c.notebook_id.in_(gone))
            await self.database.run(lambda connection: connection.execute(statement))
        for (owner, name), server in servers.items():
            if name and (owner, name) not in known:
                await self._adopt(owner, name, server)

    async def _adopt(self, owner, name, server):
        """A named server made on the hub (the home page's form) becomes a notebook."""
        row = row_for_server(owner, name, server, self.base_url, self.extended_resources)
        if row is None:
            return  # not made with a notebook's options: a plain server, not ours
        try:
            await self.database.run(lambda connection: connection.execute(insert(notebooks).values(row)))
        except IntegrityError:
            log.debug("Not adopting %s/%s: its notebook id or name is taken", owner, name)
            return
        log.info("Notebook %s: %s/%s made on the hub", row["notebook_id"], owner, name)
        if server.get("pending") == "spawn":
            self.watch(row["notebook_id"], owner, name)
