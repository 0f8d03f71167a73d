"""An in-memory stand-in for the service's own hub client (``hub_service.hub.client.HubClient``).

It keeps what the use-cases see of JupyterHub 6.1.1: users and their groups, named servers
(stopped, pending a spawn or a stop, ready; their ``user_options``, spawner ``state``,
``started`` and ``last_activity``) and shares, and answers as the hub does, with the same
:class:`HubError` codes: 404 no such user or server, 409 a server that exists, 400 a start of
a server already running or pending a stop, 400 a PATCH of an active server. Methods answer
what the real client answers (``get_server`` None and ``delete_server`` 404 for a missing
server, ``ensure_user`` quiet when the user exists).

A start does what the hub does through the Submarine spawners: the server is pending a spawn
while the spawner asks the service's admission (:meth:`Admission.admit`, as the spawners'
service token), and a refusal is the start's answer (the admission's 4xx and message); an
admitted start stays pending until the test ends it (:meth:`spawned`, :meth:`spawn_failed`).
With ``reports`` on, the spawners tell the service how servers end (:meth:`Admission.report`).

Scripted faults, each for one call, in order: :meth:`fail` (the call fails with a code, before
or after it did its work) and :meth:`hold` (the call waits until the test opens its gate, then
does its work: a slow hub). ``slow_stops``: a stop leaves the server pending until
:meth:`finish_stop`.
"""

import asyncio
import contextlib
import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone

from hub_service.caller import Caller
from hub_service.errors import ApiError
from hub_service.hub.client import HubError
from submarine_spawner.contract import AdmittedSpec

# how the hub's spawners call the service: the submarine-spawner service's token
SPAWNER = Caller(
    name="submarine-spawner", kind="service", admin=False, environments=False, metrics=False, spawner=True
)
# how often a progress stream looks for the spawn's news
PROGRESS_POLL = 0.01


def hub_now() -> str:
    """The time as the hub writes it."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Server:
    name: str
    display_name: str
    user_options: dict = field(default_factory=dict)
    ready: bool = False
    pending: str | None = None  # "spawn" or "stop"
    state: dict = field(default_factory=dict)
    started: str | None = None
    last_activity: str | None = None
    # the current spawn's progress events, as the hub streams them
    progress: list = field(default_factory=list)
    # a slow stop: what the spawner reports when it ends, and whether the server goes then
    stop_report: tuple = ("stopped",)
    remove_when_stopped: bool = False

    @property
    def active(self) -> bool:
        return self.ready or self.pending is not None

    def model(self) -> dict:
        return copy.deepcopy(
            {
                "name": self.name,
                "display_name": self.display_name,
                "ready": self.ready,
                "pending": self.pending,
                "stopped": not self.active,
                "user_options": self.user_options,
                "state": self.state,
                "started": self.started,
                "last_activity": self.last_activity,
            }
        )


class Gate:
    """A call held until the test opens the gate; ``reached`` once the call waits at it."""

    def __init__(self):
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    def open(self):
        self.opened.set()


@dataclass
class Fault:
    error: HubError | None = None
    after: bool = False  # the error comes once the call did its work (its answer was lost)
    gate: Gate | None = None


class FakeHub:
    def __init__(self):
        self.accounts: dict[str, dict[str, Server]] = {}  # user -> their named servers
        self.admins: set[str] = set()
        self.groups: dict[str, set[str]] = {}  # group -> its users
        self.shares: dict[tuple[str, str], set[tuple[str, str]]] = {}  # (user, server) -> {(kind, name)}
        self.admission = None  # the service's Admission, which the spawners ask
        self.reports = False  # whether the spawners report how servers end
        self.slow_stops = False
        self.calls: list[tuple] = []  # every call: (method, *arguments)
        self.spawns: list[tuple[str, str]] = []  # (user, server) of every spawn the admission let through
        self.closed = False
        self._faults: dict[str, list[Fault]] = {}

    # --- scripting ------------------------------------------------------------------------

    def fail(self, method: str, code: int, message="an injected failure", retry_after=None, after=False):
        """The next call of ``method`` fails with ``code`` (``after``: once it did its work)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self._faults.setdefault(method, []).append(Fault(HubError(code, message, headers), after))

    def hold(self, method: str) -> Gate:
        """The next call of ``method`` waits until the gate is opened."""
        gate = Gate()
        self._faults.setdefault(method, []).append(Fault(gate=gate))
        return gate

    def count(self, method: str) -> int:
        return sum(1 for call in self.calls if call[0] == method)

    def server(self, user: str, server: str) -> Server | None:
        """A look at the hub's server, for the test (no call)."""
        return self.accounts.get(user, {}).get(server)

    @contextlib.asynccontextmanager
    async def _answer(self, method: str, *args):
        """One call reaching the hub: recorded, and what the test scripted for it."""
        self.calls.append((method, *args))
        faults = self._faults.get(method)
        fault = faults.pop(0) if faults else Fault()
        if fault.gate:
            fault.gate.reached.set()
            await fault.gate.opened.wait()
        if fault.error and not fault.after:
            raise fault.error
        yield
        if fault.error:
            raise fault.error

    def _servers(self, user: str) -> dict[str, Server]:
        if user not in self.accounts:
            raise HubError(404, f"No such user {user}")
        return self.accounts[user]

    def _server(self, user: str, server: str) -> Server:
        found = self._servers(user).get(server)
        if found is None:
            raise HubError(404, f"{user} has no server named '{server}'")
        return found

    # --- what the spawners do -------------------------------------------------------------

    async def _admit(self, user: str, server: Server) -> AdmittedSpec:
        try:
            admitted = await self.admission.admit(
                SPAWNER,
                {
                    "owner": user,
                    "server": server.name,
                    "displayName": server.display_name,
                    "userOptions": server.user_options,
                },
            )
        except ApiError as e:
            raise HubError(e.code if e.code < 500 else 503, e.message) from None
        return AdmittedSpec.model_validate(admitted, context={"allow_pip_urls": True})

    @staticmethod
    def _ready_event(user: str, server: str) -> dict:
        return {"progress": 100, "ready": True, "message": f"Server ready at /user/{user}/{server}/"}

    async def _report(self, user: str, server: str, event: str, message: str | None = None):
        if self.reports:
            await self.admission.report(SPAWNER, {"owner": user, "server": server, "event": event, "message": message})

    async def _stop(self, user: str, server: Server):
        """The hub interrupts a pending spawn, and the spawner stops the server."""
        if server.pending == "spawn":
            # JupyterHub 6.1.1 gives a spawner its server as the spawn begins, so the progress
            # of a spawn it interrupts ends "ready" (it says "Spawn cancelled" only without one)
            server.progress.append(self._ready_event(user, server.name))
            server.stop_report = ("failed", "The notebook server was stopped before it had started")
        else:
            server.stop_report = ("stopped",)
        server.ready, server.pending = False, "stop"
        if not self.slow_stops:
            await self.finish_stop(user, server.name)

    async def _remove(self, user: str, server: Server):
        del self.accounts[user][server.name]
        self.shares.pop((user, server.name), None)
        await self._report(user, server.name, "removed")

    # --- the test's commands: what happens on the hub's side ------------------------------

    def spawning(self, user: str, server: str) -> Server:
        """A spawn begins (the admission, when the hub's start asks it, comes next)."""
        found = self._server(user, server)
        found.pending, found.state = "spawn", {}
        found.progress = [{"progress": 0, "message": "Server requested"}]
        return found

    async def spawned(self, user: str, server: str):
        """The pending spawn ends: the server is ready."""
        found = self._server(user, server)
        assert found.pending == "spawn", f"{user}/{server} is not spawning"
        found.pending, found.ready = None, True
        found.started = found.last_activity = hub_now()
        found.progress.append(self._ready_event(user, server))

    async def spawn_failed(self, user: str, server: str, message: str):
        """The pending spawn fails."""
        found = self._server(user, server)
        assert found.pending == "spawn", f"{user}/{server} is not spawning"
        found.pending = None
        found.progress.append({"progress": 100, "failed": True, "message": f"Spawn failed: {message}"})
        await self._report(user, server, "failed", f"Spawn failed: {message}")

    async def crash(self, user: str, server: str, message: str = "exit status 1"):
        """The running server dies on its own; the spawner remembers how, in its state."""
        found = self._server(user, server)
        found.ready = False
        found.state["last_exit"] = {"status": 1, "message": message, "time": hub_now()}
        await self._report(user, server, "failed", f"The notebook server exited unexpectedly ({message})")

    async def finish_stop(self, user: str, server: str):
        """A stop ends (and the removal asked with it happens)."""
        found = self._server(user, server)
        found.pending = None
        await self._report(user, server, *found.stop_report)
        if found.remove_when_stopped:
            await self._remove(user, found)

    # --- HubClient ------------------------------------------------------------------------

    def close(self):
        self.closed = True

    async def ensure_user(self, user: str):
        async with self._answer("ensure_user", user):
            self.accounts.setdefault(user, {})

    async def create_server(self, user, server, display_name, user_options) -> dict:
        async with self._answer("create_server", user, server):
            servers = self._servers(user)
            if server in servers:
                raise HubError(409, f"User {user} already has server {server}")
            servers[server] = Server(server, display_name or server, dict(user_options or {}))
            return servers[server].model()

    async def patch_server(self, user, server, user_options) -> dict:
        async with self._answer("patch_server", user, server):
            found = self._server(user, server)
            if found.active:
                raise HubError(400, f"{user}:{server} is active. Please stop it before modifying it.")
            found.user_options = dict(user_options)
            return found.model()

    async def start_server(self, user, server, user_options=None, display_name=None) -> int:
        """POST: 202, the spawn pending once the admission let it through. ``user_options`` and
        ``display_name`` are what the hub's other doors send (its REST API with a body, the spawn
        form); the service sends none, and the server starts with the options it keeps."""
        async with self._answer("start_server", user, server):
            servers = self._servers(user)
            found = servers.setdefault(server, Server(server, display_name or server))
            if found.pending == "spawn":
                return 202
            if found.pending:
                raise HubError(400, f"{user}:{server} is pending {found.pending}")
            if found.ready:
                raise HubError(400, f"{user}:{server} is already running")
            if user_options is not None:
                found.user_options = dict(user_options)
            self.spawning(user, server)
            try:
                admitted = await self._admit(user, found)
            except HubError as e:
                found.pending = None
                found.progress.append({"progress": 100, "failed": True, "message": f"Spawn failed: {e.message}"})
                raise
            # the hub keeps the admitted request (SubmarineSpawnerMixin.apply_submarine_options)
            found.user_options = admitted.user_options() or found.user_options
            self.spawns.append((user, server))
            return 202

    async def get_server(self, user, server) -> dict | None:
        try:
            async with self._answer("get_server", user, server):
                return self._server(user, server).model()
        except HubError as e:
            if e.code == 404:
                return None
            raise

    async def delete_server(self, user, server, remove=True) -> int:
        try:
            async with self._answer("delete_server", user, server, remove):
                found = self._server(user, server)
                if found.active and found.pending != "stop":
                    await self._stop(user, found)
                if found.pending == "stop":
                    found.remove_when_stopped |= remove
                    return 202
                if remove:
                    await self._remove(user, found)
                return 204
        except HubError as e:
            if e.code == 404:
                return 404
            raise

    async def users(self, state: str | None = None, include_stopped: bool = False):
        """One page of user models, their servers as the hub's listing shows them."""
        async with self._answer("users", state, include_stopped):
            page = []
            for name, servers in self.accounts.items():
                shown = {s.name: s.model() for s in servers.values() if include_stopped or s.active}
                if state == "active" and not shown:
                    continue
                page.append({"name": name, "servers": shown})
        yield page

    async def servers(self, state: str | None = None, include_stopped: bool = False) -> dict:
        found = {}
        async for users in self.users(state, include_stopped):
            for user in users:
                for name, server in user["servers"].items():
                    found[user["name"], name] = server
        return found

    async def progress(self, user, server):
        async with self._answer("progress", user, server):
            found = self._server(user, server)
            if found.ready:
                events = [self._ready_event(user, server)]
            elif found.pending == "spawn":
                events = found.progress
            elif found.progress and found.progress[-1].get("failed"):
                events = found.progress[-1:]
            else:
                raise HubError(400, f"{user}:{server} is not starting...")
        seen = 0
        while True:
            for event in events[seen:]:
                seen += 1
                yield copy.deepcopy(event)
                if event.get("ready") or event.get("failed"):
                    return
            await asyncio.sleep(PROGRESS_POLL)

    async def get_user(self, user: str) -> dict | None:
        try:
            async with self._answer("get_user", user):
                self._servers(user)
                groups = sorted(group for group, members in self.groups.items() if user in members)
                return {"name": user, "admin": user in self.admins, "groups": groups}
        except HubError as e:
            if e.code == 404:
                return None
            raise

    async def get_group(self, group: str) -> dict | None:
        async with self._answer("get_group", group):
            if group not in self.groups:
                return None
            return {"name": group, "users": sorted(self.groups[group])}

    async def share(self, user, server, kind: str, name: str):
        async with self._answer("share", user, server, kind, name):
            self._server(user, server)
            self.shares.setdefault((user, server), set()).add((kind, name))

    async def unshare(self, user, server, kind: str, name: str):
        async with self._answer("unshare", user, server, kind, name):
            self._server(user, server)
            self.shares.get((user, server), set()).discard((kind, name))

    async def shares_of(self, user, server) -> set[tuple[str, str]]:
        async with self._answer("shares_of", user, server):
            self._server(user, server)
            return set(self.shares.get((user, server), set()))

    async def note_activity(self, user, server, when: str):
        async with self._answer("note_activity", user, server, when):
            self._server(user, server).last_activity = when
