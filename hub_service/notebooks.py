"""Notebook use-cases: a DB row and the owner's named server on the hub, kept together.

Create validates everything first, then inserts the row (the unique constraints
decide concurrent creates), creates the user on demand and the named server
with the seam ``user_options``, and asks the hub to start it. It answers once
the hub has accepted the start; anything the hub refuses is undone, so a bad
request leaves no user, server or row behind. Stop, start and update act on the
same server; events and logs read what happened.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pydantic import ValidationError
from sqlalchemy import delete, func, or_, select, update

from submarine_spawner.options import NotebookOptions, explain

from . import history, metrics, specs, statuses
from .caller import Caller
from .db import Database, notebooks, utcnow
from .envelope import ApiError
from .environments import Environments
from .hub_client import HubClient, HubError
from .ids import IdGenerator, insert_with_fresh_id
from .quotas import OwnerQuota, usage
from .records import isotime, new_row, notebook_result, server_name
from .sync import StatusSync

log = logging.getLogger(__name__)

NOT_FOUND = "Notebook not found."
# how often to look whether the hub has begun a start it was asked for
START_POLL = 0.02
# how often a live event stream looks for news
EVENT_POLL = 0.25


def _live_row(connection, notebook_id):
    row = connection.execute(select(notebooks).where(
        notebooks.c.notebook_id == notebook_id, notebooks.c.deleted_time.is_(None))).mappings().first()
    if row is None:
        raise ApiError(404, NOT_FOUND)
    return row


def _remove_row(connection, notebook_id):
    connection.execute(delete(notebooks).where(notebooks.c.notebook_id == notebook_id))
    history.forget(connection, [notebook_id])


def _started_on_hub(connection, row):
    """The hub has the server and took its start: the reconcile pass may look at it now."""
    connection.execute(update(notebooks).where(notebooks.c.notebook_id == row["notebook_id"])
                       .values(on_hub=True, status=row["status"], reason=row["reason"]))
    history.record(connection, row["notebook_id"], row["status"], row["reason"])


def hub_error(e: HubError, action: str) -> ApiError:
    """What the hub said, as an error for our client."""
    if e.code == 429:
        return ApiError(429, f"JupyterHub is busy starting other servers; retry later ({e.message})",
                        {"Retry-After": e.headers.get("Retry-After", "10")})
    if 400 <= e.code < 500:
        return ApiError(e.code if e.code in (403, 409) else 400, f"JupyterHub refused to {action}: {e.message}")
    return ApiError(503 if e.code == 503 else 502, f"JupyterHub failed to {action}: {e.message}")


def event_result(event: dict) -> dict:
    return {"id": event["id"], "time": isotime(event["time"]), "status": event["status"],
            "message": event["message"]}


class Notebooks:
    def __init__(self, database: Database, hub: HubClient, sync: StatusSync, environments: Environments,
                 policy, quota: OwnerQuota, logs, base_url: str, default_namespace: str, namespaces: list[str]):
        self.database = database
        self.hub = hub
        self.sync = sync
        self.environments = environments
        self.policy = policy
        self.quota = quota
        self.logs = logs
        self.base_url = base_url
        self.default_namespace = default_namespace
        self.namespaces = namespaces
        self.ids = IdGenerator("notebook")

    @staticmethod
    def _check_owner(caller: Caller, owner: str, verb: str):
        if not caller.owns(owner):
            raise ApiError(403, f"{caller.kind.capitalize()} '{caller.name}' may not {verb} notebooks "
                                f"of '{owner}': only the owner and admins may")

    async def _row(self, caller: Caller, notebook_id: str, verb: str):
        row = await self.database.run(_live_row, notebook_id)
        self._check_owner(caller, row["owner"], verb)
        return row

    async def _check_quota(self, owner: str, resources: str, new: bool, excluding: str | None = None):
        used = await self.database.run(usage, owner, excluding)
        self.quota.check(owner, used, self.policy.parse(resources), new)

    # --- create ---------------------------------------------------------------------

    async def create(self, caller: Caller, body) -> dict:
        request = specs.validate(specs.NotebookRequest, body, self.policy)
        meta = request.meta
        owner = meta.ownerId or (caller.name if caller.kind == "user" else None)
        if owner is None:
            raise ApiError(400, "meta.ownerId: is required when a service creates a notebook")
        self._check_owner(caller, owner, "create")
        namespace = meta.namespace or self.default_namespace
        if namespace not in self.namespaces:
            raise ApiError(400, f"meta.namespace: '{namespace}' is not allowed here "
                                f"(allowed: {', '.join(self.namespaces)})")
        environment = await self.environments.spec(request.environment.name)
        await self._check_quota(owner, request.spec.resources, new=True)
        server = server_name(meta.name)
        spec = {
            "meta": {**meta.model_dump(exclude_defaults=True), "namespace": namespace, "ownerId": owner},
            "environment": environment,
            "spec": request.spec.model_dump(exclude_none=True),
        }

        def conflict(connection):
            other = connection.execute(select(notebooks.c.name, notebooks.c.deleted_time).where(
                notebooks.c.owner == owner, or_(notebooks.c.name == meta.name, notebooks.c.server_name == server)
            )).first()
            if other is None:
                return None
            if other.deleted_time:
                return f"Notebook '{other.name}' of '{owner}' is still being deleted; try again in a few seconds"
            if other.name == meta.name:
                return f"'{owner}' already has a notebook named '{meta.name}'"
            return f"'{meta.name}' and '{owner}''s notebook '{other.name}' map to the same hub server '{server}'"

        requested = time.monotonic()
        row = await insert_with_fresh_id(
            self.database, notebooks, self.ids,
            lambda notebook_id: new_row(notebook_id, owner, meta.name, server, namespace, spec, self.base_url,
                                        statuses.CREATING, statuses.REASONS[statuses.CREATING], on_hub=False),
            conflict,
        )
        await self._make_and_start(row, self._options(row, spec), meta.name)
        metrics.CREATES.inc()
        self.sync.watch(row["notebook_id"], owner, server, requested)
        return notebook_result(row)

    def _options(self, row, spec) -> dict:
        """The seam: the user_options of the notebook's named server, checked against
        today's caps (a changed notebook may carry resources made under older ones)."""
        options = {"notebookId": row["notebook_id"], "namespace": row["namespace"],
                   "environment": spec["environment"], "envVars": spec["spec"].get("envVars", {}),
                   "resources": spec["spec"].get("resources", "")}
        try:
            context = {"policy": self.policy, **self.environments.kernel_policy.context}
            return NotebookOptions.model_validate(options, context=context).model_dump()
        except ValidationError as e:
            raise ApiError(400, explain(e)) from None

    async def _make_and_start(self, row: dict, options: dict, display_name: str):
        """User (on demand), server, start; undo all of it if the hub refuses any step."""
        owner, server = row["owner"], row["server_name"]
        made_user = made_server = False
        try:
            try:
                await self.hub.create_server(owner, server, display_name, options)
            except HubError as e:
                if e.code != 404:
                    raise
                await self.hub.create_user(owner)
                made_user = True
                await self.hub.create_server(owner, server, display_name, options)
            made_server = True
            await self._start(owner, server)
        except HubError as e:
            if e.code >= 500 and made_server:
                # the hub took the start and the spawn failed at once: the notebook exists,
                # failed, saying so as the hub's progress does
                row.update(status=statuses.FAILED, reason=f"Spawn failed: {e.message}")
            else:
                await self._undo(row, made_user, made_server)
                if e.code == 409:
                    raise ApiError(409, f"'{owner}' already has a JupyterHub server named '{server}' "
                                        "(made outside this API); choose another name") from None
                raise hub_error(e, f"create the notebook '{row['name']}'") from None
        except BaseException:
            await self._undo(row, made_user, made_server)
            raise
        row["on_hub"] = True
        await self.database.run(_started_on_hub, row)

    async def _start(self, owner: str, server: str):
        """Ask the hub to start; return once it has begun (or finished). HubError if refused."""
        post = asyncio.ensure_future(self.hub.start_server(owner, server))
        while not post.done():
            model = await self.hub.get_server(owner, server)
            if model.get("pending") or model.get("ready"):
                # the hub took it; the watcher reports how it ends
                post.add_done_callback(lambda f: f.cancelled() or f.exception())
                return
            await asyncio.wait([post], timeout=START_POLL)
        post.result()

    async def _undo(self, row: dict, made_user: bool, made_server: bool):
        steps = []
        if made_server:
            steps.append(("remove server", self.hub.delete_server(row["owner"], row["server_name"])))
        if made_user:
            steps.append(("remove user", self.hub.delete_user(row["owner"])))
        for what, step in steps:
            try:
                await step
            except HubError as e:
                log.warning("Undoing notebook %s: could not %s: %s", row["notebook_id"], what, e)
        await self.database.run(_remove_row, row["notebook_id"])

    # --- read -----------------------------------------------------------------------

    async def get(self, caller: Caller, notebook_id: str) -> dict:
        return notebook_result(await self._row(caller, notebook_id, "read"))

    async def list(self, caller: Caller, owner=None, status=None, limit=None, offset=0):
        """Notebooks of ``owner`` (default: the caller; all for an admin), oldest first."""
        if owner is None and not caller.admin:
            owner = caller.name
        if owner is not None:
            self._check_owner(caller, owner, "list")
        if status is not None and status not in statuses.ALL:
            raise ApiError(400, f"status: '{status}' is not one of {', '.join(statuses.ALL)}")
        where = [notebooks.c.deleted_time.is_(None)]
        if owner is not None:
            where.append(notebooks.c.owner == owner)
        if status is not None:
            where.append(notebooks.c.status == status)

        def page(connection):
            total = connection.execute(select(func.count()).select_from(notebooks).where(*where)).scalar()
            query = (select(notebooks).where(*where).order_by(notebooks.c.created_time, notebooks.c.notebook_id)
                     .offset(offset).limit(limit))
            return total, connection.execute(query).mappings().all()

        total, rows = await self.database.run(page)
        return [notebook_result(row) for row in rows], {"total": total, "offset": offset, "limit": limit}

    async def counts(self) -> dict[str, int]:
        """How many notebooks have each status."""
        query = (select(notebooks.c.status, func.count()).where(notebooks.c.deleted_time.is_(None))
                 .group_by(notebooks.c.status))
        return dict(await self.database.run(lambda connection: connection.execute(query).all()))

    async def events(self, caller: Caller, notebook_id: str) -> list[dict]:
        await self._row(caller, notebook_id, "read")
        return [event_result(e) for e in await self.database.run(history.since, notebook_id)]

    async def follow(self, caller: Caller, notebook_id: str):
        """The notebook's events as they happen: its history first, then news, until it is
        neither starting nor stopping (or is deleted)."""
        await self._row(caller, notebook_id, "read")
        after = 0
        while True:
            events = await self.database.run(history.since, notebook_id, after)
            for event in events:
                after = event["id"]
                yield event_result(event)
            status = await self.database.run(lambda connection: connection.execute(
                select(notebooks.c.status).where(notebooks.c.notebook_id == notebook_id,
                                                 notebooks.c.deleted_time.is_(None))).scalar())
            if status not in statuses.STARTING | {statuses.TERMINATING}:
                return
            await asyncio.sleep(EVENT_POLL)

    async def log_lines(self, caller: Caller, notebook_id: str, lines: int) -> dict:
        row = await self._row(caller, notebook_id, "read")
        return {"notebookId": notebook_id, "lines": await self.logs.tail(row, lines)}

    # --- stop, start, update --------------------------------------------------------

    async def stop(self, caller: Caller, notebook_id: str) -> dict:
        """Stop the server; the workspace and the spec stay."""
        row = await self._row(caller, notebook_id, "stop")
        if row["status"] in (statuses.STOPPED, statuses.FAILED):
            return notebook_result(row)
        try:
            code = await self.hub.delete_server(row["owner"], row["server_name"], remove=False)
        except HubError as e:
            raise hub_error(e, f"stop the notebook '{row['name']}'") from None
        # 202: the hub still stops it; the reconcile pass says stopped when it has
        change = (statuses.STOPPED, statuses.REASONS[statuses.STOPPED]) if code == 204 else \
            (statuses.TERMINATING, "The notebook instance is stopping")
        await history.change(self.database, notebook_id, *change)
        return notebook_result(await self.database.run(_live_row, notebook_id))

    async def start(self, caller: Caller, notebook_id: str) -> dict:
        """Start a stopped (or failed) notebook again: same url, same workspace."""
        row = await self._row(caller, notebook_id, "start")
        if row["status"] not in (statuses.STOPPED, statuses.FAILED):
            raise ApiError(409, f"Notebook '{row['name']}' is {row['status']}: only a stopped or failed "
                                "notebook can be started")
        await self._check_quota(row["owner"], row["spec"]["spec"].get("resources", ""), new=False,
                                excluding=notebook_id)
        requested = time.monotonic()
        try:
            await self._start(row["owner"], row["server_name"])
        except HubError as e:
            raise hub_error(e, f"start the notebook '{row['name']}'") from None
        await history.change(self.database, notebook_id, statuses.CREATING, "The notebook instance is starting",
                             expected=row["status"])
        self.sync.watch(notebook_id, row["owner"], row["server_name"], requested)
        return notebook_result(await self.database.run(_live_row, notebook_id))

    async def update(self, caller: Caller, notebook_id: str, body) -> dict:
        """Change envVars, resources or environment of a stopped notebook."""
        patch = specs.validate(specs.NotebookPatch, body, self.policy)
        row = await self._row(caller, notebook_id, "change")
        if row["status"] not in (statuses.STOPPED, statuses.FAILED):
            raise ApiError(409, f"Notebook '{row['name']}' is {row['status']}: stop it first "
                                f"(POST /api/v1/notebook/{notebook_id}/stop), then change it")
        spec = {**row["spec"], "spec": dict(row["spec"]["spec"])}
        if patch.environment is not None:
            spec["environment"] = await self.environments.spec(patch.environment.name)
        if patch.spec is not None:
            given = patch.spec.model_dump(exclude_unset=True)
            if "resources" in given:  # the cpu/memory/gpu fields were folded into the old one
                spec["spec"] = {k: v for k, v in spec["spec"].items() if k not in specs.RESOURCE_FIELDS}
            spec["spec"].update(given)
        try:
            await self.hub.patch_server(row["owner"], row["server_name"], self._options(row, spec))
        except HubError as e:
            if e.code == 400 and "active" in e.message:
                raise ApiError(409, f"Notebook '{row['name']}' is running: stop it first") from None
            raise hub_error(e, f"change the notebook '{row['name']}'") from None

        def save(connection):
            connection.execute(update(notebooks).where(notebooks.c.notebook_id == notebook_id).values(spec=spec))
            history.record(connection, notebook_id, row["status"], "The notebook instance was changed")
            return _live_row(connection, notebook_id)

        return notebook_result(await self.database.run(save))

    # --- delete ---------------------------------------------------------------------

    async def delete(self, caller: Caller, notebook_id: str) -> dict:
        """Stop and remove the server; the notebook answers 404 from now on."""

        def claim(connection):
            row = _live_row(connection, notebook_id)
            self._check_owner(caller, row["owner"], "delete")
            claimed = connection.execute(
                update(notebooks)
                .where(notebooks.c.notebook_id == notebook_id, notebooks.c.deleted_time.is_(None))
                .values(deleted_time=utcnow(), status=statuses.TERMINATING,
                        reason=statuses.REASONS[statuses.TERMINATING])
            )
            if claimed.rowcount != 1:
                raise ApiError(404, NOT_FOUND)
            return row

        row = await self.database.run(claim)
        try:
            code = await self.hub.delete_server(row["owner"], row["server_name"])
        except HubError as e:
            if e.code != 404:
                statement = (update(notebooks).where(notebooks.c.notebook_id == notebook_id)
                             .values(deleted_time=None, status=row["status"], reason=row["reason"]))
                await self.database.run(lambda connection: connection.execute(statement))
                raise hub_error(e, f"delete the notebook '{row['name']}'") from None
            code = 204
        if code == 204:  # removed now; 202: the hub removes it when the stop ends
            await self.database.run(_remove_row, notebook_id)
        return {**notebook_result(row), "status": statuses.TERMINATING,
                "reason": statuses.REASONS[statuses.TERMINATING]}
