"""The spawners' door: every start is admitted here, and ends are reported here.

Both spawners call :meth:`Admission.admit` before they make anything, whichever door the
start came through (this API, the spawn form, the hub's REST API, the admin panel), with
the owner, the server and the client's ``user_options`` (a request, see
``submarine_spawner.contract``), and start with exactly the :class:`AdmittedSpec` it answers:

* a server that is a notebook starts with the notebook's spec; what the client sent is
  not read (a notebook is changed with PATCH);
* a new named server becomes a notebook: its request is checked as the API checks a create
  (environment by name from the catalogue, namespace allow-list, resource caps), its id is
  the service's, and its row is written, within the owner's quota, before the spawn begins;
* the default server is no notebook: a request it carries is checked the same way, and
  nothing is written.

A refusal is a 4xx with the API's message, which the hub passes to its caller (and the
spawn page shows); a new server refused is removed from the hub again.

Only the hub's spawners may call: the ``custom:submarine:admission`` scope, which the hub
gives the ``submarine-spawner`` service alone.
"""

import asyncio
import logging
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from submarine_spawner.contract import REQUEST_FIELDS, AdmittedSpec, StartRequest, admitted

from .. import specs, statuses, store
from ..caller import Caller
from ..errors import ApiError
from ..hub.client import HubClient, HubError
from ..rows import server_name
from .environments import successor
from .notebooks import Notebooks

log = logging.getLogger(__name__)

# how long after a refusal the hub has surely ended the spawn it refused
STRAY_DELAY = 2.0


class AdmissionRequest(BaseModel):
    owner: str = Field(max_length=255)
    server: str = Field(default="", max_length=255)
    displayName: str | None = Field(default=None, max_length=255)
    userOptions: dict = Field(default_factory=dict)


# what a report of a stop moves to stopped
STOPPABLE = statuses.ACTIVE | {statuses.TERMINATING}


class Report(BaseModel):
    """What a spawner saw happen to a server it started."""

    owner: str = Field(max_length=255)
    server: str = Field(max_length=255)
    event: Literal["stopped", "failed", "removed"]
    message: str | None = Field(default=None, max_length=8192)
    # the notebook the spawner started (a retried report must not end a newer one), and the
    # hub's last activity of the server (the idle culler's stops say so)
    notebookId: str | None = Field(default=None, max_length=64)
    lastActivity: AwareDatetime | None = None


class Admission:
    def __init__(self, *, notebooks: Notebooks, hub: HubClient, sync):
        self.notebooks = notebooks
        self.environments = notebooks.environments
        self.database = notebooks.database
        self.hub = hub
        self.sync = sync
        # the volumes an admin defined, which environments name in pod.volumes
        self.volumes = notebooks.policy.volumes

    @staticmethod
    def _check_caller(caller: Caller):
        if not caller.spawner:
            raise ApiError(
                403, "Only the hub's spawners may ask for admission or report (the custom:submarine:admission scope)"
            )

    async def admit(self, caller: Caller, body) -> dict:
        self._check_caller(caller)
        asked = specs.validate(AdmissionRequest, body)
        try:
            specs.validate_owner(asked.owner)
            if not asked.server:
                spec = await self._default_server(asked)
            else:
                spec = await self._named_server(asked)
        except ApiError as e:
            log.info("Refused a start of %s/%s: %s", asked.owner, asked.server, e.message)
            raise
        return spec.model_dump()

    def _request(self, asked: AdmissionRequest) -> StartRequest:
        return specs.validate(
            StartRequest, asked.userOptions, self.notebooks.policy.context, prefix="user_options", names=REQUEST_FIELDS
        )

    async def _default_server(self, asked: AdmissionRequest) -> AdmittedSpec:
        """Not a notebook: a plain server, or one in an environment of the catalogue."""
        request = self._request(asked)
        if request.environment is None:
            return AdmittedSpec(namespace=self.notebooks.namespace(request.namespace))
        spec, _ = await self.notebooks.spec(
            asked.owner, "", request.namespace, request.environment.name, request.pod()
        )
        return admitted(None, spec, self.volumes)

    async def _named_server(self, asked: AdmissionRequest) -> AdmittedSpec:
        row = await self.database.run(store.notebook_on_server, asked.owner, asked.server)
        if row is None:
            try:
                row = await self._new_notebook(asked)
            except ApiError:
                asyncio.ensure_future(self._remove_stray(asked.owner, asked.server))
                raise
            log.info(
                "Notebook %s: %s/%s started on the hub becomes a notebook",
                row["notebook_id"],
                asked.owner,
                asked.server,
            )
        else:
            row = await self._restart(row)
            self.notebooks.controller.admitted(row["notebook_id"])
        self.sync.watch(row["notebook_id"], row["owner"], row["server_name"])
        return admitted(row["notebook_id"], row["spec"], self.volumes)

    async def _new_notebook(self, asked: AdmissionRequest) -> dict:
        request = self._request(asked)
        display = asked.displayName or asked.server
        name = display if server_name(display) == asked.server else asked.server
        if server_name(name) != asked.server:
            raise ApiError(
                400,
                f"'{asked.server}' cannot be a notebook's server name: notebook names match "
                "^[a-z]([-a-z0-9]*[a-z0-9])?$ (at most 63 characters)",
            )
        if request.environment is None:
            raise ApiError(
                400,
                "user_options.environment.name: is required: name an environment of the "
                "catalogue (GET /api/v1/environment)",
            )
        spec, revision = await self.notebooks.spec(
            asked.owner, name, request.namespace, request.environment.name, request.pod()
        )
        return await self.notebooks.insert(
            asked.owner,
            name,
            spec,
            revision,
            status=statuses.CREATING,
            reason=statuses.STARTING_REASON,
            pending=False,
            admitted=True,
        )

    async def _restart(self, row: dict) -> dict:
        """A notebook's server starts: in its environment's newest spec (or its successor's, when
        it is redirected), within the owner's quota, unless it is being deleted."""
        notebook_id, owner = row["notebook_id"], row["owner"]
        moved = await self._next_environment(row)

        def admit(connection):
            store.lock_owner(connection, owner)
            current = store.notebook(connection, notebook_id)
            if current is None:
                raise ApiError(409, f"Notebook '{row['name']}' is being deleted; it cannot start")
            if not (current["pending"] and current["desired"] == "running"):
                # a start on the hub's doors; one asked through the API was checked then
                self.notebooks.check_quota(
                    connection, owner, current["spec"]["spec"].get("resources", ""), new=False, excluding=notebook_id
                )
            if moved:
                spec, revision, message = moved
                store.change_spec(connection, notebook_id, {**current["spec"], "environment": spec}, revision, message)
                log.info("Notebook %s: %s", notebook_id, message)
            store.set_status(connection, notebook_id, statuses.CREATING, statuses.STARTING_REASON)
            store.admit(connection, notebook_id)
            return store.notebook(connection, notebook_id)

        return await self.database.run(admit)

    async def _next_environment(self, row: dict) -> tuple[dict, int, str] | None:
        """``(spec, revision, what happened)`` when this start runs another spec than the notebook
        holds: its environment's successor, or its environment's newer revision. The owner must
        be allowed to use it (403)."""
        name = row["spec"]["environment"]["name"]
        environments = await self.database.run(store.environments_for, [row])
        target = successor(environments, name)
        if target is None:
            return None  # its environment is gone: it keeps what it holds
        await self.environments.check_access(target["spec"], row["owner"])
        moves = target["name"] != name
        if not moves and (row["environment_revision"] in (None, target["revision"])):
            return None
        spec, revision = await self.environments.for_notebook(target["name"], row["owner"], new=False)
        if moves:
            why = environments[name]["spec"].get("deprecated")
            return (
                spec,
                revision,
                (
                    f"The notebook instance moved from environment '{name}' to "
                    f"'{target['name']}'" + (f" ({name} is deprecated: {why})" if why else "")
                ),
            )
        return spec, revision, f"The notebook instance took environment '{name}''s new spec (revision {revision})"

    async def _remove_stray(self, owner: str, server: str):
        """A new server whose start was refused: removed once the hub has ended the spawn,
        unless it has become a notebook meanwhile."""
        for _ in range(5):
            await asyncio.sleep(STRAY_DELAY)
            try:
                model = await self.hub.get_server(owner, server)
                if model is None or await self.database.run(store.notebook_on_server, owner, server):
                    return
                if not (model.get("ready") or model.get("pending")):
                    await self.hub.delete_server(owner, server, remove=True)
                    log.info("Removed %s/%s from the hub: its start was refused", owner, server)
                    return
            except HubError as e:
                log.debug("Removing the refused server %s/%s: %s", owner, server, e)

    async def report(self, caller: Caller, body):
        """A spawner saw its server stop, fail or be removed."""
        self._check_caller(caller)
        report = specs.validate(Report, body)
        row = await self.database.run(store.notebook_on_server, report.owner, report.server)
        if row is None:
            return
        notebook_id = row["notebook_id"]
        if row["deleted_time"] or row["pending"] or report.notebookId not in (None, notebook_id):
            return  # a change the controller carries out (it sees what became of the server), or another notebook's
        if report.event == "removed":
            log.info("Notebook %s: %s/%s was removed on the hub", notebook_id, report.owner, report.server)
            await self.database.run(store.remove, [notebook_id])
            return
        # a notebook already stopped or failed keeps its reason (the culler's, a failed start's):
        # the report of a stop a change asked for can come after the change is done
        if report.event == "failed":
            change = (statuses.FAILED, report.message or "The notebook server failed"), statuses.ALL_BUT_FAILED
        else:
            activity = max(filter(None, (row["last_activity"], report.lastActivity)), default=None)
            change = (statuses.STOPPED, self.sync.stopped_reason(activity)), STOPPABLE

        def apply(connection):
            if store.set_status(connection, notebook_id, *change[0], change[1]) is None:
                return False
            store.done(connection, notebook_id, "stopped")
            return True

        if await self.database.run(apply):
            log.info("Notebook %s: %s on the hub (%s)", notebook_id, change[0][0], change[0][1])
