"""The controller: drives each notebook's server on the hub to what its row asks.

A request writes what the owner asked for into the notebook's row (``desired`` running or
stopped, or ``deleted_time``) and marks it ``pending``; the controller carries it out, one
notebook at a time (a keyed queue: a notebook asked again while a step runs gets one more
step after it), with steps that are safe to repeat whatever happened before:

* run: make the user if missing, the server if missing (PUT, with the notebook's request as
  its user_options), start it unless it is active. The start passes the service's admission,
  which marks the change done.
* stop: stop the server unless it is stopped.
* delete: remove the server unless it is gone, then the row.

A step the hub could not do now (unreachable, busy, still stopping) is tried again with
backoff; the row keeps when, so a restarted service carries on where the last one stopped.
Rows with nothing pending get an *observe* step when a pass finds them out of date: the
hub's model of the server says what their status is now.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from submarine_spawner.contract import admitted as admitted_spec

from .. import statuses, store
from ..store.schema import Database, utcnow
from .client import HubClient, HubError

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
# how often a start looks whether its admission happened on another replica
ADMISSION_POLL = 0.25
# how long a step waits for the hub to finish stopping a server before it tries again later
STOP_WAIT, STOP_POLL = 5.0, 0.2


@dataclass(frozen=True)
class Outcome:
    """How a step ended: done, or not (``code`` is why: the hub's 4xx refusal, 429, or 5xx/503
    when the hub failed or did not answer, and the step will be tried again)."""

    done: bool
    code: int = 200
    message: str = ""
    retry_after: float | None = None

    @property
    def refused(self) -> bool:
        """The hub said no for good: trying again would not help."""
        return not self.done and 400 <= self.code < 500 and self.code != 429


DONE = Outcome(True)


def conflict_message(owner: str, server: str) -> str:
    return f"'{owner}' already has a JupyterHub server named '{server}' (made outside this API); choose another name"


class Controller:
    def __init__(self, *, database: Database, hub: HubClient, leadership, sync=None, concurrency: int = 16):
        self.database = database
        self.hub = hub
        self.leadership = leadership
        self.sync = sync  # stopped_reason and watch: set once both exist
        self._steps = asyncio.Semaphore(concurrency)
        self._running: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._admissions: dict[str, asyncio.Event] = {}

    # --- the keyed queue ----------------------------------------------------------------

    def enqueue(self, notebook_id: str, delay: float = 0):
        """Step this notebook now, or after ``delay`` seconds."""
        if delay > 0:
            timer = self._timers.pop(notebook_id, None)
            if timer:
                timer.cancel()
            self._timers[notebook_id] = asyncio.get_running_loop().call_later(delay, self._fire, notebook_id)
        else:
            self._kick(notebook_id)

    def _fire(self, notebook_id):
        self._timers.pop(notebook_id, None)
        self._kick(notebook_id)

    def _kick(self, notebook_id) -> asyncio.Task:
        task = self._running.get(notebook_id)
        if task is not None:
            self._again.add(notebook_id)
            return task
        task = asyncio.ensure_future(self._work(notebook_id))
        self._running[notebook_id] = task
        return task

    async def _work(self, notebook_id) -> Outcome:
        try:
            while True:
                outcome = await self.step(notebook_id)
                if notebook_id not in self._again:
                    return outcome
                self._again.discard(notebook_id)
        finally:
            self._running.pop(notebook_id, None)

    async def converge(self, notebook_id: str, timeout: float) -> Outcome | None:
        """Step the notebook now and wait for the outcome of a step begun after this call;
        None if it takes longer than ``timeout`` (the step goes on)."""
        task = self._kick(notebook_id)
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            return None

    def admitted(self, notebook_id: str):
        """The notebook's start was admitted (by this replica): a start waiting for it is done."""
        event = self._admissions.get(notebook_id)
        if event:
            event.set()

    async def stop(self):
        for timer in self._timers.values():
            timer.cancel()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one step -----------------------------------------------------------------------

    async def step(self, notebook_id: str) -> Outcome:
        row = await self.database.run(store.notebook, notebook_id, False)
        if row is None:
            return DONE
        async with self._steps:
            try:
                if row["deleted_time"]:
                    outcome = await self._remove(row)
                elif not row["pending"]:
                    outcome = await self._observe(row)
                elif row["desired"] == "running":
                    outcome = await self._run(row)
                else:
                    outcome = await self._stop(row)
            except HubError as e:
                outcome = Outcome(False, e.code, e.message, e.retry_after)
            except Exception:
                log.exception("Notebook %s: the controller's step failed", notebook_id)
                outcome = Outcome(False, 500, "the Submarine service failed; its log has the details")
        if not outcome.done and not outcome.refused and row["pending"]:
            await self._retry_later(row, outcome)
        elif outcome.refused and row["pending"] and not row["deleted_time"] and row["desired"] == "running":
            await self._refused(row, outcome)
        return outcome

    async def _refused(self, row, outcome: Outcome):
        """A start the hub refused for good. The request that asked for it undoes it (a create is
        called off, a start goes back), if it still waits: while it holds the notebook. Else (a
        retry of a start accepted earlier, or a change its replica died before carrying out)
        nobody would, and it would be retried at every due pass: it fails, saying why."""
        if row["retry_at"] is not None and row["retry_at"] > utcnow():
            return
        reason = f"JupyterHub refused to start the notebook: {outcome.message}"
        if await self.database.run(store.call_off, row["notebook_id"], statuses.FAILED, reason):
            log.warning("Notebook %s: %s", row["notebook_id"], reason)

    async def _retry_later(self, row, outcome: Outcome):
        attempts = row["attempts"] + 1
        delay = outcome.retry_after or min(MAX_BACKOFF, 2.0 ** min(attempts, 6) / 2)
        await self.database.run(store.retry_later, row["notebook_id"], attempts, utcnow() + timedelta(seconds=delay))
        if outcome.code >= 500:
            log.warning(
                "Notebook %s: JupyterHub failed (%s); trying again in %gs", row["notebook_id"], outcome.message, delay
            )
        if self.leadership.is_leader:  # else the leader's due pass tries again
            self.enqueue(row["notebook_id"], delay)

    async def _run(self, row) -> Outcome:
        notebook_id, owner, server = row["notebook_id"], row["owner"], row["server_name"]
        model = await self.hub.get_server(owner, server)
        if model is None:
            await self.hub.ensure_user(owner)
            options = admitted_spec(notebook_id, row["spec"]).user_options()
            try:
                await self.hub.create_server(owner, server, row["spec"]["meta"]["name"], options)
                model = {"user_options": options}
            except HubError as e:
                if e.code != 409:
                    raise
                model = await self.hub.get_server(owner, server) or {}
        if not self._ours(row, model):
            log.info(
                "Notebook %s: %s/%s exists and is not a notebook; giving up the create", notebook_id, owner, server
            )
            await self.database.run(store.remove, [notebook_id])
            return Outcome(False, 409, conflict_message(owner, server))
        if model.get("pending") == "stop":
            model = await self._stopped(owner, server)
            if model is None:
                return Outcome(False, 503, "JupyterHub is still stopping the server; trying again", 1)
        if model.get("ready") or model.get("pending") == "spawn":
            await self.database.run(store.done, notebook_id, None, True)
            return DONE
        if await self._start(notebook_id, owner, server):
            return DONE
        # started by a spawner that asks no admission
        await self.database.run(store.done, notebook_id, None, True)
        return DONE

    async def _start(self, notebook_id, owner, server) -> bool:
        """Ask the hub to start the server; return once its start is admitted (True) or the hub
        has answered (the hub's answer waits for the whole spawn, up to its slow_spawn_timeout)."""
        post = asyncio.ensure_future(self.hub.start_server(owner, server))
        event = self._admissions.setdefault(notebook_id, asyncio.Event())
        try:
            while not post.done():
                waiting = asyncio.ensure_future(event.wait())
                await asyncio.wait([post, waiting], timeout=ADMISSION_POLL, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if event.is_set() or await self._was_admitted(notebook_id):
                    post.add_done_callback(lambda f: f.cancelled() or f.exception())  # the spawn goes on
                    return True
        finally:
            self._admissions.pop(notebook_id, None)
        try:
            post.result()
        except HubError as e:
            if e.code == 400 and ("already running" in e.message or "pending" in e.message):
                return False
            if e.code < 500 or not await self._was_admitted(notebook_id):
                raise
            # the hub took the start and the spawn failed at once: the spawner's report and the
            # spawn's progress say why
        return await self._was_admitted(notebook_id)

    async def _stopped(self, owner, server) -> dict | None:
        """The server's model once the hub has finished stopping it (None if it takes long)."""
        deadline = asyncio.get_running_loop().time() + STOP_WAIT
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(STOP_POLL)
            model = await self.hub.get_server(owner, server)
            if model is None or model.get("pending") != "stop":
                return model or {}
        return None

    async def _was_admitted(self, notebook_id) -> bool:
        row = await self.database.run(store.notebook, notebook_id)
        return row is not None and not row["pending"]

    @staticmethod
    def _ours(row, model: dict) -> bool:
        """The server is this notebook's: admitted as it, or made by the service for it."""
        return row["admitted"] or (model.get("user_options") or {}).get("notebookId") == row["notebook_id"]

    async def _stop(self, row) -> Outcome:
        notebook_id, owner, server = row["notebook_id"], row["owner"], row["server_name"]
        model = await self.hub.get_server(owner, server)
        code = 404 if model is None else 204
        if model is not None and (model.get("ready") or model.get("pending")):
            code = await self.hub.delete_server(owner, server, remove=False)
        if code == 202 and await self._stopped(owner, server) is None:
            return Outcome(False, 202, "JupyterHub is stopping the server", 1)
        if code == 404:
            return await self._gone(row)

        def stopped(connection):
            store.set_status(
                connection,
                notebook_id,
                statuses.STOPPED,
                row["stop_reason"] or statuses.REASONS[statuses.STOPPED],
                statuses.ACTIVE | {statuses.TERMINATING},
            )
            store.done(connection, notebook_id, "stopped", True)

        await self.database.run(stopped)
        return DONE

    async def _remove(self, row) -> Outcome:
        notebook_id, owner, server = row["notebook_id"], row["owner"], row["server_name"]
        model = await self.hub.get_server(owner, server)
        if model is not None and self._ours(row, model):
            code = await self.hub.delete_server(owner, server, remove=True)
            if code == 202 and await self._stopped(owner, server) is None:
                return Outcome(False, 202, "JupyterHub is stopping the server before it removes it", 1)
        await self.database.run(store.remove, [notebook_id])
        return DONE

    async def _gone(self, row) -> Outcome:
        log.info(
            "Notebook %s: its server %s/%s is gone from the hub; removing the notebook",
            row["notebook_id"],
            row["owner"],
            row["server_name"],
        )
        await self.database.run(store.remove, [row["notebook_id"]])
        return DONE

    async def _observe(self, row) -> Outcome:
        """Bring a settled notebook's status up to date with the hub's model of its server."""
        model = await self.hub.get_server(row["owner"], row["server_name"])
        if model is None:
            return await self._gone(row)
        if self.sync:
            await self.sync.apply_model(row, model)
        return DONE
