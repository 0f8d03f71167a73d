"""Each environment's run-time policy, and busy kernels counted as activity.

Our own small culler: jupyterhub-idle-culler has one timeout for every server, and reads only
the hub's ``last_activity``, which a kernel busy with a silent cell for hours does not move.
Every ``interval`` seconds, on the leader, it looks at the running notebooks:

* one running longer than its environment's ``maxRuntime`` (from the hub's ``started``) is
  stopped, saying so;
* one idle (the hub's ``last_activity``) for more than half the shortest idle timeout that
  applies to it (its environment's ``idleTimeout``; the hub-wide one of jupyterhub-idle-culler,
  ``cull_idle_timeout``) is asked, through the proxy, whether a kernel is busy. If one is, the
  hub is told the server is active now, so neither culler stops it; if none is and it is idle
  past its ``idleTimeout``, it is stopped, saying so.
"""

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .. import statuses, store
from ..store.schema import utcnow
from .client import HubError
from .sync import hub_time

log = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    """1 h 5 min, 3 min 20 s, 45 s."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
        f"{seconds} s" if seconds and not hours else "",
    ]
    return " ".join(part for part in parts if part) or "0 s"


def overdue(
    environment: dict, started: datetime | None, idle_since: datetime | None, now: datetime, busy: bool
) -> str | None:
    """Why the notebook must stop now (its environment's policy), or None."""
    max_runtime, idle_timeout = environment.get("maxRuntime"), environment.get("idleTimeout")
    if max_runtime and started and (now - started).total_seconds() > max_runtime:
        return (
            f"it ran for {duration((now - started).total_seconds())}, and environment "
            f"'{environment['name']}' allows {duration(max_runtime)} (maxRuntime)"
        )
    if idle_timeout and idle_since and not busy and (now - idle_since).total_seconds() > idle_timeout:
        return (
            f"it was idle for {duration((now - idle_since).total_seconds())} with no kernel busy, and "
            f"environment '{environment['name']}' allows {duration(idle_timeout)} (idleTimeout)"
        )
    return None


class Culler:
    def __init__(
        self,
        *,
        database,
        hub,
        controller,
        leadership,
        interval: float,
        proxy_url: str,
        base_url: str,
        token: str,
        hub_idle_timeout: float,
        hold: float,
    ):
        self.database = database
        self.hub = hub
        self.controller = controller
        self.leadership = leadership
        self.interval = interval
        self.lab_root = proxy_url.rstrip("/") + base_url.rstrip("/") + "/user/"
        self.token = token
        self.hub_idle_timeout = hub_idle_timeout
        self.hold = hold
        self._client = AsyncHTTPClient(force_instance=True, max_clients=8)
        self._task: asyncio.Task | None = None

    def start(self):
        self._task = asyncio.ensure_future(self._run())

    async def stop(self):
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._client.close()

    async def _run(self):
        while True:
            await asyncio.sleep(self.interval)
            if not self.leadership.is_leader:
                continue
            try:
                await self.cull()
            except HubError as e:
                log.debug("Culling: the hub did not answer (%s)", e)
            except Exception:
                log.exception("Culling failed; trying again in %gs", self.interval)

    def _idle_limit(self, environment: dict) -> float:
        limits = [limit for limit in (environment.get("idleTimeout"), self.hub_idle_timeout) if limit]
        return min(limits) / 2 if limits else 0

    async def cull(self):
        rows = [
            row
            for row in await self.database.run(store.running)
            if self._idle_limit(row["spec"]["environment"]) or row["spec"]["environment"].get("maxRuntime")
        ]
        if not rows:
            return
        servers = await self.hub.servers(state="active")
        now = utcnow()
        for row in rows:
            model = servers.get((row["owner"], row["server_name"]))
            if not model or not model.get("ready"):
                continue
            environment = row["spec"]["environment"]
            idle_since = hub_time(model.get("last_activity"))
            quiet = idle_since and (now - idle_since).total_seconds() > self._idle_limit(environment)
            busy = bool(quiet) and await self._busy(row)
            if busy:
                await self.hub.note_activity(
                    row["owner"], row["server_name"], now.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
                )
            why = overdue(environment, hub_time(model.get("started")), idle_since, now, busy)
            if why:
                await self._stop(row, why)

    async def _busy(self, row) -> bool:
        """Whether one of the notebook's kernels is busy (its lab, through the proxy)."""
        url = f"{self.lab_root}{row['owner']}/{row['server_name']}/api/kernels"
        request = HTTPRequest(url, headers={"Authorization": f"token {self.token}"}, request_timeout=10)
        try:
            response = await self._client.fetch(request, raise_error=False)
        except (HTTPClientError, OSError) as e:
            log.debug("Notebook %s: could not ask its kernels (%s)", row["notebook_id"], e)
            return False
        if response.code != 200:
            log.debug("Notebook %s: its kernels answered %s", row["notebook_id"], response.code)
            return False
        return any(kernel.get("execution_state") == "busy" for kernel in json.loads(response.body))

    async def _stop(self, row, why: str):
        held = utcnow() + timedelta(seconds=self.hold)

        def ask(connection):
            if store.ask(
                connection,
                row["notebook_id"],
                "stopped",
                statuses.TERMINATING,
                f"Stopping: {why}",
                held,
                statuses.RUNNING,
            ):
                store.set_stop_reason(
                    connection, row["notebook_id"], f"Stopped because {why}; start it again to use it"
                )
                return True
            return False

        if await self.database.run(ask):
            log.info(
                "Notebook %s (%s/%s): stopping, because %s", row["notebook_id"], row["owner"], row["server_name"], why
            )
            await self.controller.converge(row["notebook_id"], self.hold)
