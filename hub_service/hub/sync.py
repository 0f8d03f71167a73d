"""Learning what the hub did, at a cost that grows with change, not with how many notebooks exist.

* The spawners *report* to the service as things happen: every start passes its admission,
  and stops, exits and removals are reported (``admission.py``).
* A *watcher* follows each admitted spawn's progress stream, so ``reason`` carries the latest
  progress message and ``running`` or ``failed`` lands the moment the hub knows.
* The *quick pass*, every ``interval`` seconds, reads the server of each notebook in a
  transition that no watcher follows (starting, stopping): its cost grows with change. One
  the hub no longer has active gets an observe step of the controller (stopped, crashed or
  removed).
* The *full pass*, when the service starts and every ``full_interval`` seconds, reads every
  server (paged) and catches what reports missed (changes while the service was down for
  longer than the spawners retry a report).

The passes, and retrying the controller's pending changes, run on the leader replica only.
Every status write goes through :func:`store.set_status`: compare-and-set on the status read,
so a watcher, a pass, a report and a request racing on one notebook never undo each other.
"""

import asyncio
import logging
import time
from datetime import datetime

from .. import metrics, statuses, store
from ..store.schema import Database, utcnow
from .client import HubClient, HubError

log = logging.getLogger(__name__)


def hub_time(text: str | None) -> datetime | None:
    """The hub's ISO 8601 times (``...Z``) as aware datetimes."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class StatusSync:
    def __init__(
        self,
        *,
        database: Database,
        hub: HubClient,
        controller,
        leadership,
        interval: float,
        full_interval: float,
        cull_idle_timeout: float = 0,
    ):
        self.database = database
        self.hub = hub
        self.controller = controller
        self.leadership = leadership
        self.interval = interval
        self.full_interval = full_interval
        self.cull_idle_timeout = cull_idle_timeout
        self.watchers: dict[str, asyncio.Task] = {}
        # what else the leader does after a full pass (e.g. Notebooks.regrant_group_shares)
        self.after_full_pass: list = []
        self._loop_task: asyncio.Task | None = None
        self._hub_down = False

    def start(self):
        self._loop_task = asyncio.ensure_future(self._run())

    async def stop(self):
        tasks = [t for t in [self._loop_task, *self.watchers.values()] if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self):
        last_full = None  # a new leader first makes a full pass
        while True:
            try:
                if not self.leadership.is_leader:
                    last_full = None
                elif last_full is None or time.monotonic() - last_full >= self.full_interval:
                    started = time.monotonic()
                    with metrics.SYNC_PASS.labels("full").time():
                        await self.full_pass()
                    log.info("Full pass over the hub's servers took %.2fs", time.monotonic() - started)
                    last_full = started
                    for work in self.after_full_pass:
                        await work()
                else:
                    with metrics.SYNC_PASS.labels("quick").time():
                        await self.quick_pass()
                if self.leadership.is_leader:
                    await self.due_pass()
                if self._hub_down:
                    log.info("Status sync: the hub answers again")
                    self._hub_down = False
            except HubError as e:
                if not self._hub_down:  # once per outage, not every interval
                    log.warning("Status sync: the hub did not answer (%s); retrying every %gs", e, self.interval)
                    self._hub_down = True
            except Exception:
                log.exception("Status sync failed; retrying in %gs", self.interval)
            await asyncio.sleep(self.interval)

    # --- watchers -------------------------------------------------------------------------

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
                if await self._apply_event(notebook_id, event) == statuses.RUNNING:
                    started = await self.database.run(store.start_time, notebook_id)
                    if started:
                        metrics.SPAWN_DURATION.observe((utcnow() - started).total_seconds())
        except HubError as e:
            # not starting (any more), or gone: reports and passes have the last word
            log.debug("Progress of %s/%s ended: %s", owner, server, e)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Following the progress of %s/%s failed", owner, server)

    async def _apply_event(self, notebook_id, event) -> str | None:
        """The status the event moved the notebook to, if it did."""
        for _ in range(3):  # retry if something else changed the status under us
            current = await self.database.run(store.status_of, notebook_id)
            if current is None:
                return None
            change = statuses.from_progress(event, current)
            if change is None:
                return None
            if await self.change(notebook_id, *change, expected=current):
                return change[0]
        return None

    async def change(self, notebook_id, status, reason, expected=None) -> bool:
        """:func:`store.set_status` on a database thread; entering a status is counted."""
        previous = await self.database.run(store.set_status, notebook_id, status, reason, expected)
        if previous is not None and previous != status:
            metrics.STATUS_CHANGES.labels(status).inc()
        return previous is not None

    # --- what the hub's model of a server says ------------------------------------------

    def stopped_reason(self, last_activity) -> str:
        """Why a running server stopped when nobody asked through the API: the idle
        culler when it had been idle for the cull timeout, else a plain stop."""
        if self.cull_idle_timeout and last_activity:
            idle = (utcnow() - last_activity).total_seconds()
            if idle >= self.cull_idle_timeout:
                return (
                    f"Stopped by the idle culler: no activity for {idle / 60:.0f} min "
                    f"(the limit is {self.cull_idle_timeout / 60:g} min); start it again to use it"
                )
        return statuses.REASONS[statuses.STOPPED]

    async def apply_model(self, row, model: dict):
        """Correct a settled notebook from the hub's model of its server."""
        notebook_id = row["notebook_id"]
        if model.get("pending") == "spawn":
            self.watch(notebook_id, row["owner"], row["server_name"])
        change = statuses.from_server(model, row["status"], self.stopped_reason(row["last_activity"]))
        if change:

            def apply(connection):
                if store.set_status(connection, notebook_id, *change, expected=row["status"]) is None:
                    return False
                if change[0] in (statuses.STOPPED, statuses.FAILED):
                    store.done(connection, notebook_id, "stopped", False)
                return True

            if await self.database.run(apply):
                metrics.STATUS_CHANGES.labels(change[0]).inc()
                log.info(
                    "Notebook %s (%s/%s): %s, as the hub says (%s)",
                    notebook_id,
                    row["owner"],
                    row["server_name"],
                    change[0],
                    change[1],
                )
        activity = hub_time(model.get("last_activity"))
        if model.get("ready") and activity and activity != row["last_activity"]:
            await self.database.run(store.note_activity, notebook_id, activity)

    # --- passes ---------------------------------------------------------------------------

    async def quick_pass(self):
        """The notebooks in a transition nothing follows (starting with no watcher, stopping),
        each against its own server: the cost grows with what changes, not with how many
        notebooks run. How a running notebook ends is pushed by its spawner."""
        rows = [row for row in await self.database.run(store.in_transition) if row["notebook_id"] not in self.watchers]
        for row in rows:
            model = await self.hub.get_server(row["owner"], row["server_name"])
            if model is None or not (model.get("ready") or model.get("pending")):
                self.controller.enqueue(row["notebook_id"])  # stopped, crashed or removed: look closer
            else:
                await self.apply_model(row, model)

    async def full_pass(self):
        """Every settled notebook against every server the hub has."""
        rows = await self.database.run(store.settled)
        servers = await self.hub.servers(include_stopped=True)
        gone = []
        for row in rows:
            model = servers.get((row["owner"], row["server_name"]))
            if model is None:
                gone.append(row["notebook_id"])
                log.info(
                    "Notebook %s: its server %s/%s is gone from the hub; removing the notebook",
                    row["notebook_id"],
                    row["owner"],
                    row["server_name"],
                )
            else:
                await self.apply_model(row, model)
        if gone:
            await self.database.run(store.remove, gone)

    async def due_pass(self):
        """Carry on with pending changes whose next attempt is due (those of a replica or a
        service process that stopped, too)."""
        for notebook_id in await self.database.run(store.due, utcnow()):
            self.controller.enqueue(notebook_id)
