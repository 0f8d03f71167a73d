"""Unit tests of the use-cases: the service's real Notebooks, Admission, Controller and StatusSync
on a real sqlite database, wired as ``hub_service/app.py`` wires them, with an in-memory
stand-in for the service's own hub client (``fake_hub.py``) instead of JupyterHub.

The end-to-end tests (``tests/test_controller.py``) reach an undo branch or a race when the
timing happens to fall that way; these script the hub call by call, so each branch is reached
every time. No background loop runs: a test makes the passes and steps it wants
(``sync.quick_pass()``, ``full_pass()``, ``due_pass()``, ``controller.step(id)``).

Each ``async def`` test runs in an event loop of its own (``asyncio.run``), as
``tests/test_builds.py``'s ``in_event_loop`` does: no plugin is needed.
"""

import asyncio
import inspect
import shutil
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub_service import statuses, store
from hub_service.app import Parts, SubmarineService
from hub_service.caller import Caller
from hub_service.hub import controller as controller_module
from hub_service.store import schema
from hub_service.store.schema import utcnow
from hub_service.usecases import admission as admission_module
from submarine_spawner.policy import SubmarinePolicy

from .fake_hub import FakeHub

# seconds a request waits for the hub (c.SubmarineService.request_timeout): far longer than a
# step against the fake takes, even in a pause of the garbage collector; a test of a hub too
# slow for a request holds the call and makes the request wait BRIEFLY
REQUEST_TIMEOUT = 5.0
BRIEFLY = 0.2
ADMIN = Caller(name="admin", kind="user", admin=True, environments=True, metrics=True, spawner=False)


def user(name: str) -> Caller:
    return Caller(name=name, kind="user", admin=False, environments=False, metrics=False, spawner=False)


def notebook_body(name: str, environment="notebook-env", resources="", env_vars=None, owner=None) -> dict:
    meta = {"name": name, "namespace": "default"}
    if owner:
        meta["ownerId"] = owner
    return {
        "meta": meta,
        "environment": {"name": environment},
        "spec": {"envVars": env_vars or {}, "resources": resources},
    }


ANY = object()


async def eventually(check, equals=ANY, timeout: float = 5.0):
    """``check()``'s first truthy answer (``== equals``, when given; ``check`` may be a
    coroutine function): for what the service's own tasks do (a watcher, a queued step, the
    removal of a refused server)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if (result == equals) if equals is not ANY else result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"not within {timeout}s: {result!r}"
        await asyncio.sleep(0.01)


@dataclass
class Service(Parts):
    database: schema.Database
    hub: FakeHub

    # --- what the database holds ----------------------------------------------------------

    async def row(self, notebook_id: str) -> dict | None:
        """The notebook's row, being deleted or not."""
        return await self.database.run(store.notebook, notebook_id, False)

    async def rows(self, owner: str) -> list[dict]:
        """Every row of ``owner``'s, being deleted or not."""
        query = select(schema.notebooks).where(schema.notebooks.c.owner == owner)
        return await self.database.run(lambda connection: [dict(row) for row in connection.execute(query).mappings()])

    async def nothing_left(self, owner: str) -> bool:
        """No row of ``owner``'s, being deleted or not, and no server of theirs on the hub."""
        return not await self.rows(owner) and not self.hub.accounts.get(owner)

    async def due_now(self, notebook_id: str):
        """The wait before the pending change's next attempt is over (the request's hold, or
        the retry's backoff), as if that time had passed."""
        past = utcnow() - timedelta(seconds=1)
        query = update(schema.notebooks).where(schema.notebooks.c.notebook_id == notebook_id).values(retry_at=past)
        await self.database.run(lambda connection: connection.execute(query))

    async def status(self, notebook_id: str) -> str | None:
        row = await self.row(notebook_id)
        return row and row["status"]

    async def state(self, notebook_id: str) -> tuple[str, str] | None:
        """``(status, reason)``; None once the row is gone."""
        row = await self.row(notebook_id)
        return row and (row["status"], row["reason"])

    async def events(self, notebook_id: str) -> list[tuple[str, str]]:
        return [(e["status"], e["message"]) for e in await self.database.run(store.events_since, notebook_id)]

    # --- notebooks in a given state ---------------------------------------------------------

    async def create(self, owner: str, name: str, **spec) -> dict:
        return await self.notebooks.create(user(owner), notebook_body(name, **spec))

    async def written_down(self, owner: str, name: str) -> str:
        """A create as Notebooks.create writes it down, before its first step: pending, and held
        for the request (``Notebooks.held``)."""
        spec, revision = await self.notebooks.spec(owner, name, None, "notebook-env", {})
        row = await self.notebooks.insert(
            owner, name, spec, revision, status=statuses.CREATING, reason="", pending=True, admitted=False
        )
        return row["notebook_id"]

    async def running(self, owner: str, name: str, **spec) -> str:
        notebook_id = (await self.create(owner, name, **spec))["notebookId"]
        await self.hub.spawned(owner, name)
        await eventually(lambda: self.is_(notebook_id, statuses.RUNNING))
        return notebook_id

    async def stopped(self, owner: str, name: str, **spec) -> str:
        notebook_id = await self.running(owner, name, **spec)
        await self.notebooks.stop(user(owner), notebook_id)
        assert await self.status(notebook_id) == statuses.STOPPED
        return notebook_id

    async def is_(self, notebook_id: str, status: str) -> bool:
        return await self.status(notebook_id) == status

    async def environment(self, name: str, **spec) -> dict:
        return await self.environments.create(ADMIN, {"name": name, "dockerImage": f"images/{name}:1", **spec})


def wire(database: schema.Database, hub: FakeHub) -> Service:
    """The use-cases as ``SubmarineService.serve`` wires them (its defaults, but for the
    request's wait), on ``hub``; nothing started."""
    parts = SubmarineService(request_timeout=REQUEST_TIMEOUT, base_url="/").wire(database, hub, SubmarinePolicy())
    hub.admission = parts.admission  # the hub's spawners ask this service
    return Service(database=database, hub=hub, **vars(parts))


@pytest.fixture(scope="session")
def template_database(tmp_path_factory):
    """A database made once as the service makes it (alembic, the seeded environments); each
    test works on a copy."""
    path = tmp_path_factory.mktemp("template") / "submarine.sqlite"
    schema.upgrade(f"sqlite:///{path}", SubmarineService().seed_environments)
    return path


@pytest.fixture
def service(template_database, tmp_path):
    path = tmp_path / "submarine.sqlite"
    shutil.copy(template_database, path)
    database = schema.Database(f"sqlite:///{path}")
    yield wire(database, FakeHub())
    database.close()


@pytest.fixture(autouse=True)
def short_waits(monkeypatch):
    """The service's own waits, shortened: for a stopping server, between looks at whether a
    start was admitted, and before a refused server is removed."""
    monkeypatch.setattr(controller_module, "STOP_WAIT", 1.0)
    monkeypatch.setattr(controller_module, "STOP_POLL", 0.01)
    monkeypatch.setattr(controller_module, "ADMISSION_POLL", 0.01)
    monkeypatch.setattr(admission_module, "STRAY_DELAY", 0.01)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """An ``async def`` test runs in an event loop of its own; its leftover tasks (watchers,
    steps still waiting for a held call) are cancelled when it ends."""
    test = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test):
        return None
    asyncio.run(test(**{name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}))
    return True
