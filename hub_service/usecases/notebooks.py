"""Notebook use-cases: what a request asks of a notebook, written down, then carried out.

Every change is first written into the notebook's row as what the owner asked for (create,
start, stop, delete); the controller then drives the hub there, and the request waits for
its first step, at most ``request_timeout`` seconds. The answer says which happened:

* done: the hub took it (a create or start has begun, a stop or delete has happened or is
  under way);
* refused: the hub said no (429 busy, or another 4xx); the request is undone and its answer
  is the hub's refusal;
* not known yet (the hub is slow or unreachable): a create is called off and answered 503
  with Retry-After: its row is marked deleted first, so anything the hub does later is
  refused at admission and removed; a start, stop or delete is kept and answered 202
  ("accepted"): the controller carries it out when the hub answers.

A DELETE always wins: it is a mark no later start passes (admission refuses it).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from submarine_spawner.contract import admitted, notebook_spec
from submarine_spawner.policy import SubmarinePolicy

from .. import metrics, specs, statuses, store
from ..caller import Caller
from ..errors import ApiError
from ..hub.client import HubClient, HubError
from ..hub.controller import Controller, Outcome
from ..hub.members import Members
from ..ids import IdGenerator, insert_with_fresh_id
from ..rows import isotime, new_row, notebook_result, server_name, share_result
from ..store.schema import Database, utcnow
from .environments import Environments, pending_restart
from .quotas import OwnerQuota, usage

log = logging.getLogger(__name__)

NOT_FOUND = "Notebook not found."
# how often a live event stream looks for news
EVENT_POLL = 0.25
# seconds beyond request_timeout that a change stays its requester's alone (a step's own waits)
HOLD_MARGIN = 10


def event_result(event: dict) -> dict:
    return {"id": event["id"], "time": isotime(event["time"]), "status": event["status"], "message": event["message"]}


def hub_error(e: HubError, action: str) -> ApiError:
    """What the hub said to a request it answered at once, for our client."""
    if e.code >= 500:
        return ApiError(503, f"JupyterHub failed to {action}: {e.message}; try again later", {"Retry-After": "10"})
    return ApiError(e.code if e.code in (403, 404, 409) else 400, f"JupyterHub refused to {action}: {e.message}")


def outcome_error(outcome: Outcome | None, action: str, timeout: float, undone: str) -> ApiError:
    """Why a change did not happen, for our client; ``undone`` says what was undone."""
    if outcome is None or outcome.code >= 500:
        why = (
            f"JupyterHub did not answer within {timeout:g}s"
            if outcome is None
            else f"JupyterHub failed ({outcome.message})"
        )
        return ApiError(503, f"{why}; {undone}: try again later", {"Retry-After": "10"})
    if outcome.code == 429:
        return ApiError(
            429,
            f"JupyterHub is busy starting other servers; {undone}: try again later ({outcome.message})",
            {"Retry-After": f"{outcome.retry_after or 10:g}"},
        )
    code = outcome.code if outcome.code in (403, 409) else 400
    return ApiError(code, f"JupyterHub refused to {action}: {outcome.message}")


class Notebooks:
    def __init__(
        self,
        *,
        database: Database,
        hub: HubClient,
        controller: Controller,
        sync,
        environments: Environments,
        members: Members,
        policy: SubmarinePolicy,
        quota: OwnerQuota,
        logs,
        base_url: str,
        request_timeout: float,
    ):
        self.database = database
        self.members = members
        self.hub = hub
        self.controller = controller
        self.sync = sync
        self.environments = environments
        self.policy = policy
        self.quota = quota
        self.logs = logs
        self.base_url = base_url
        self.request_timeout = request_timeout
        self.ids = IdGenerator("notebook")

    @staticmethod
    def check_owner(caller: Caller, owner: str, verb: str):
        if not caller.owns(owner):
            raise ApiError(
                403,
                f"{caller.kind.capitalize()} '{caller.name}' may not {verb} notebooks "
                f"of '{owner}': only the owner and admins may",
            )

    async def _row(self, caller: Caller, notebook_id: str, verb: str) -> dict:
        """The notebook, if the caller may ``verb`` it (see ``_allow``)."""
        row = await self.database.read(store.notebook, notebook_id)
        await self._allow(caller, row, verb)
        return row

    async def _allow(self, caller: Caller, row: dict | None, verb: str):
        """404 for no notebook; 403 unless the caller may ``verb`` it: its owner and admins may do
        anything, those it is shared with may read it."""
        if row is None:
            raise ApiError(404, NOT_FOUND)
        if verb == "read" and not caller.owns(row["owner"]) and await self._shared_with(caller, row["notebook_id"]):
            return
        self.check_owner(caller, row["owner"], verb)

    async def _shared_with(self, caller: Caller, notebook_id: str) -> bool:
        if caller.kind != "user":
            return False
        groups = (await self.members.of(caller.name)).groups
        return await self.database.read(store.shared_with, notebook_id, caller.name, groups)

    async def _results(self, caller: Caller, rows, environments: dict | None = None) -> list[dict]:
        """Notebooks as the API shows them: whether a restart is pending (their ``environments``,
        read here unless given), and who shared them."""
        if environments is None:
            environments = await self.database.read(store.environments_for, rows)
        return [
            notebook_result(
                row,
                pending_restart(row, environments),
                row["owner"] if caller.kind == "user" and not caller.owns(row["owner"]) else None,
            )
            for row in rows
        ]

    async def _result(self, caller: Caller, row) -> dict:
        return (await self._results(caller, [row]))[0]

    async def _current(self, notebook_id: str) -> dict:
        row = await self.database.read(store.notebook, notebook_id)
        if row is None:
            raise ApiError(404, NOT_FOUND)
        return row

    def check_quota(self, connection, owner: str, resources: str, new: bool, excluding: str | None = None):
        """In a unit that holds the owner's lock (``store.lock_owner``)."""
        used = usage(store.usage_rows(connection, owner, excluding))
        self.quota.check(owner, used, self.policy.resources.parse(resources), new)

    # --- a new notebook (here, or started on the hub: admission.py) --------------------

    def namespace(self, asked: str | None) -> str:
        try:
            return self.policy.namespace(asked)
        except ValueError as e:
            raise ApiError(400, str(e)) from None

    async def spec(
        self,
        owner: str,
        name: str,
        namespace: str | None,
        environment: str,
        pod: dict,
        labels=None,
        caller_admin: bool = False,
    ) -> tuple[dict, int]:
        """``(spec, environment revision)`` of a new notebook from what was asked, its environment
        resolved from the catalogue (one the owner may use, not deprecated)."""
        namespace = self.namespace(namespace)
        resolved, revision = await self.environments.for_notebook(environment, owner, caller_admin)
        return notebook_spec(name, owner, namespace, resolved, pod, labels), revision

    def held(self) -> datetime:
        """Until when the leader's retries leave a change this replica was asked for alone: the
        request's own first step, and the waits within it."""
        return utcnow() + timedelta(seconds=self.request_timeout + HOLD_MARGIN)

    async def insert(
        self,
        owner: str,
        name: str,
        spec: dict,
        revision: int,
        *,
        status: str,
        reason: str,
        pending: bool,
        admitted: bool,
    ) -> dict:
        """A new notebook's row, under the owner's lock: 409 if its name or server is taken,
        403 over the owner's quota, else inserted (with a fresh id)."""
        server = server_name(name)

        def checked_insert(connection, row):
            store.lock_owner(connection, owner)
            other = store.name_conflict(connection, owner, name, server)
            if other is not None:
                if other["deleted_time"]:
                    raise ApiError(
                        409,
                        f"Notebook '{other['name']}' of '{owner}' is still being deleted; try again in a few seconds",
                    )
                if other["name"] == name:
                    raise ApiError(409, f"'{owner}' already has a notebook named '{name}'")
                raise ApiError(
                    409, f"'{name}' and '{owner}''s notebook '{other['name']}' map to the same hub server '{server}'"
                )
            self.check_quota(connection, owner, spec["spec"].get("resources", ""), new=True)
            store.insert_notebook(connection, row)

        return await insert_with_fresh_id(
            self.database,
            self.ids,
            lambda notebook_id: new_row(
                notebook_id,
                owner,
                name,
                server,
                spec,
                revision,
                self.base_url,
                status=status,
                reason=reason,
                pending=pending,
                admitted=admitted,
                held=self.held() if pending else None,
            ),
            checked_insert,
        )

    # --- create ---------------------------------------------------------------------------

    async def create(self, caller: Caller, body) -> dict:
        request = specs.validate(specs.NotebookRequest, body, self.policy.context)
        meta = request.meta
        owner = meta.ownerId or (caller.name if caller.kind == "user" else None)
        if owner is None:
            raise ApiError(400, "meta.ownerId: is required when a service creates a notebook")
        specs.validate_owner(owner)
        self.check_owner(caller, owner, "create")
        spec, revision = await self.spec(
            owner,
            meta.name,
            meta.namespace,
            request.environment.name,
            request.spec.model_dump(exclude_none=True),
            meta.labels,
            caller.admin,
        )
        row = await self.insert(
            owner,
            meta.name,
            spec,
            revision,
            status=statuses.CREATING,
            reason=statuses.REASONS[statuses.CREATING],
            pending=True,
            admitted=False,
        )
        notebook_id = row["notebook_id"]
        outcome = await self.controller.converge(notebook_id, self.request_timeout)
        if not (outcome and outcome.done):
            current = await self.database.read(store.notebook, notebook_id)
            if current is None or current["pending"]:
                if current is not None and await self.database.run(store.mark_deleted, notebook_id, self.held()):
                    # its server goes, now if the hub answers, else when it does
                    answers = outcome is not None and outcome.code < 500
                    await self.controller.converge(notebook_id, self.request_timeout if answers else 0)
                raise outcome_error(
                    outcome, f"create the notebook '{meta.name}'", self.request_timeout, "the notebook was not created"
                )
        metrics.CREATES.inc()
        return await self._result(caller, await self.database.read(store.notebook, notebook_id) or row)

    # --- read -----------------------------------------------------------------------------

    async def get(self, caller: Caller, notebook_id: str) -> dict:
        def view(connection):  # the notebook and its environments, in one unit
            row = store.notebook(connection, notebook_id)
            return row, store.environments_for(connection, [row] if row else [])

        row, environments = await self.database.read(view)
        await self._allow(caller, row, "read")
        return (await self._results(caller, [row], environments))[0]

    async def list(self, caller: Caller, owner=None, status=None, limit=None, offset=0):
        """Notebooks of ``owner``, oldest first; without one, the caller's own and those shared
        with them (an admin's: all)."""
        shared = None
        if owner is None and not caller.admin:
            owner = caller.name
            if caller.kind == "user":
                shared = (caller.name, (await self.members.of(caller.name)).groups)
        if owner is not None and not caller.spawner:  # the spawners read a home page's notebooks
            self.check_owner(caller, owner, "list")
        if status is not None and status not in statuses.ALL:
            raise ApiError(400, f"status: '{status}' is not one of {', '.join(statuses.ALL)}")

        def page(connection):  # the page and its environments, in one unit
            total, rows = store.page(connection, owner, status, limit, offset, shared)
            return total, rows, store.environments_for(connection, rows)

        total, rows, environments = await self.database.read(page)
        return await self._results(caller, rows, environments), {"total": total, "offset": offset, "limit": limit}

    async def counts(self) -> dict[str, int]:
        """How many notebooks have each status."""
        return await self.database.read(store.counts)

    async def events(self, caller: Caller, notebook_id: str) -> list[dict]:
        await self._row(caller, notebook_id, "read")
        return [event_result(e) for e in await self.database.read(store.events_since, notebook_id)]

    async def follow(self, caller: Caller, notebook_id: str):
        """The notebook's events as they happen: its history first, then news, until it is
        neither starting nor stopping (or is deleted)."""
        await self._row(caller, notebook_id, "read")
        after = 0
        while True:
            for event in await self.database.read(store.events_since, notebook_id, after):
                after = event["id"]
                yield event_result(event)
            status = await self.database.read(store.status_of, notebook_id)
            if status not in statuses.STARTING | {statuses.TERMINATING}:
                return
            await asyncio.sleep(EVENT_POLL)

    async def log_lines(self, caller: Caller, notebook_id: str, lines: int) -> dict:
        row = await self._row(caller, notebook_id, "read")
        return {"notebookId": notebook_id, "lines": await self.logs.tail(row, lines)}

    # --- stop, start, update --------------------------------------------------------------

    def _accepted(self, outcome: Outcome | None) -> bool:
        """The hub has not answered yet: the change stays asked for and will be carried out."""
        return outcome is None or (not outcome.done and outcome.code >= 500)

    async def stop(self, caller: Caller, notebook_id: str) -> tuple[dict, bool]:
        """Stop the server; the workspace and the spec stay. ``(notebook, accepted)``."""
        row = await self._row(caller, notebook_id, "stop")
        if not row["pending"] and row["status"] in (statuses.STOPPED, statuses.FAILED):
            return await self._result(caller, row), False
        if not await self.database.run(
            store.ask, notebook_id, "stopped", statuses.TERMINATING, statuses.STOPPING_REASON, self.held()
        ):
            raise ApiError(404, NOT_FOUND)
        outcome = await self.controller.converge(notebook_id, self.request_timeout)
        return await self._result(caller, await self._current(notebook_id)), self._accepted(outcome)

    async def start(self, caller: Caller, notebook_id: str) -> tuple[dict, bool]:
        """Start a stopped (or failed) notebook again: same url, same workspace.
        ``(notebook, accepted)``."""
        row = await self._row(caller, notebook_id, "start")
        startable = (statuses.STOPPED, statuses.FAILED)

        def ask(connection):
            store.lock_owner(connection, row["owner"])
            current = store.notebook(connection, notebook_id)
            if current is None:
                raise ApiError(404, NOT_FOUND)
            if current["pending"] or current["status"] not in startable:
                raise ApiError(
                    409,
                    f"Notebook '{row['name']}' is {current['status']}: only a stopped or failed "
                    "notebook can be started",
                )
            self.check_quota(
                connection, row["owner"], row["spec"]["spec"].get("resources", ""), new=False, excluding=notebook_id
            )
            store.ask(
                connection, notebook_id, "running", statuses.CREATING, statuses.STARTING_REASON, self.held(), startable
            )
            return current

        before = await self.database.run(ask)
        outcome = await self.controller.converge(notebook_id, self.request_timeout)
        if outcome is not None and (outcome.refused or outcome.code == 429):
            if await self.database.run(store.call_off, notebook_id, before["status"], before["reason"]):
                raise outcome_error(
                    outcome,
                    f"start the notebook '{row['name']}'",
                    self.request_timeout,
                    "the notebook was not started",
                )
        return await self._result(caller, await self._current(notebook_id)), self._accepted(outcome)

    async def update(self, caller: Caller, notebook_id: str, body) -> dict:
        """Change envVars, resources or environment of a stopped notebook."""
        patch = specs.validate(specs.NotebookPatch, body, self.policy.context)
        row = await self._row(caller, notebook_id, "change")
        changeable = (statuses.STOPPED, statuses.FAILED)

        def must_be_stopped(current):
            if current is None:
                raise ApiError(404, NOT_FOUND)
            if current["pending"] or current["status"] not in changeable:
                raise ApiError(
                    409,
                    f"Notebook '{row['name']}' is {current['status']}: stop it first "
                    f"(POST /api/v1/notebook/{notebook_id}/stop), then change it",
                )

        must_be_stopped(row)
        spec = {**row["spec"], "spec": dict(row["spec"]["spec"])}
        revision = row["environment_revision"]
        if patch.environment is not None:
            spec["environment"], revision = await self.environments.for_notebook(
                patch.environment.name, row["owner"], caller.admin
            )
        if patch.spec is not None:
            given = patch.spec.model_dump(exclude_unset=True)
            if "resources" in given:  # the cpu/memory/gpu fields were folded into the old one
                spec["spec"] = {k: v for k, v in spec["spec"].items() if k not in specs.RESOURCE_FIELDS}
            spec["spec"].update(given)

        def save(connection):
            must_be_stopped(store.notebook(connection, notebook_id))
            store.change_spec(connection, notebook_id, spec, revision, "The notebook instance was changed")
            return store.notebook(connection, notebook_id)

        changed = await self.database.run(save)
        await self._show_on_hub(changed)
        return await self._result(caller, changed)

    async def _show_on_hub(self, row):
        """The hub's copy of a stopped notebook's request (its home page shows it); the next
        start's admission writes it anyway, so a hub that does not answer is no failure."""
        options = admitted(row["notebook_id"], row["spec"]).user_options()
        try:
            await asyncio.wait_for(
                self.hub.patch_server(row["owner"], row["server_name"], options), self.request_timeout
            )
        except (HubError, asyncio.TimeoutError) as e:
            log.debug("Notebook %s: the hub's copy of its options stays as it was (%s)", row["notebook_id"], e)

    # --- delete ---------------------------------------------------------------------------

    async def delete(self, caller: Caller, notebook_id: str) -> tuple[dict, bool]:
        """Stop and remove the server; the notebook answers 404 from now on. ``(notebook, accepted)``."""
        row = await self._row(caller, notebook_id, "delete")
        if not await self.database.run(store.mark_deleted, notebook_id, self.held()):
            raise ApiError(404, NOT_FOUND)
        outcome = await self.controller.converge(notebook_id, self.request_timeout)
        result = {
            **await self._result(caller, row),
            "status": statuses.TERMINATING,
            "reason": statuses.REASONS[statuses.TERMINATING],
        }
        return result, self._accepted(outcome)

    # --- sharing --------------------------------------------------------------------------

    async def shares(self, caller: Caller, notebook_id: str) -> list[dict]:
        await self._row(caller, notebook_id, "read")
        return [share_result(share) for share in await self.database.read(store.shares_of, notebook_id)]

    async def share(self, caller: Caller, notebook_id: str, body) -> list[dict]:
        """Give a user or a group access to the notebook's lab (JupyterHub's shares: the hub
        itself lets them in); they see it in their list, and may not change it."""
        grant = specs.validate(specs.ShareRequest, body)
        kind, name = grant.kind_and_name()
        row = await self._row(caller, notebook_id, "share")
        if kind == "user" and name == row["owner"]:
            raise ApiError(400, f"user: '{name}' owns the notebook")
        known = await (self.hub.get_user(name) if kind == "user" else self.hub.get_group(name))
        if not known:
            raise ApiError(404, f"{kind}: JupyterHub has no {kind} named '{name}'")
        await self.database.run(store.add_share, notebook_id, kind, name)
        await self._grant(row, f"share the notebook '{row['name']}'")
        log.info("Notebook %s shared with %s %s by %s", notebook_id, kind, name, caller.name)
        return await self.shares(caller, notebook_id)

    async def unshare(self, caller: Caller, notebook_id: str, kind: str, name: str) -> list[dict]:
        row = await self._row(caller, notebook_id, "share")
        if not await self.database.run(store.remove_share, notebook_id, kind, name):
            raise ApiError(404, f"Notebook '{row['name']}' is not shared with {kind} '{name}'")
        await self._grant(row, f"stop sharing the notebook '{row['name']}'")
        log.info("Notebook %s no longer shared with %s %s (%s)", notebook_id, kind, name, caller.name)
        return await self.shares(caller, notebook_id)

    async def _grant(self, row, action: str):
        """Make the hub's shares of the notebook's server what its shares say. Each group has
        its group share, and each user it is shared with, directly or as a member of a group,
        a user share of their own: JupyterHub 6 gives a group's shares to its members' logins
        but not to their API tokens."""
        shares = await self.database.read(store.shares_of, row["notebook_id"])
        groups = {share["name"] for share in shares if share["kind"] == "group"}
        users = {share["name"] for share in shares if share["kind"] == "user"}
        try:
            for group in groups:
                users.update((await self.hub.get_group(group) or {}).get("users", []))
            wanted = {("user", user) for user in users - {row["owner"]}} | {("group", group) for group in groups}
            granted = await self.hub.shares_of(row["owner"], row["server_name"])
            for kind, name in wanted - granted:
                await self.hub.share(row["owner"], row["server_name"], kind, name)
            for kind, name in granted - wanted:
                await self.hub.unshare(row["owner"], row["server_name"], kind, name)
        except HubError as e:
            raise hub_error(e, action) from None

    async def regrant_group_shares(self):
        """Members come and go: give the members of each group a notebook is shared with their
        user shares (the full pass calls this)."""
        for row in await self.database.read(store.shared_with_groups):
            try:
                await self._grant(row, "share")
            except ApiError as e:
                log.warning(
                    "Notebook %s: its group shares could not be brought up to date: %s", row["notebook_id"], e.message
                )
