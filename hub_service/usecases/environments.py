"""The environment catalogue: create, list, read, change and delete environments, and what
governs their use.

Reading needs any valid token, and shows only the environments the caller may use (those
limited to ``groups`` are for their members and admins); writing needs an admin or the
``custom:submarine:environments`` scope. Notebooks copy the spec they were created with, so
changing or deleting an environment never breaks one: a change of what its notebooks run
(image, kernelSpec, pod settings) counts a new ``revision``, and its notebooks are pending a
restart that takes it; a deprecated environment takes no new notebooks, and ``redirectTo``
moves its notebooks to the successor at their next start.
"""

from submarine_spawner.contract import EnvironmentSpec
from submarine_spawner.policy import SubmarinePolicy

from .. import specs, store
from ..caller import ENVIRONMENTS_SCOPE, Caller
from ..errors import ApiError
from ..hub.members import Member, Members
from ..ids import IdGenerator, insert_with_fresh_id
from ..store.schema import Database, utcnow

NOT_FOUND = "Environment not found."
# what its notebooks run: a change of these is a new revision
RUN_FIELDS = ("dockerImage", "kernelSpec", "pod")
MAX_REDIRECTS = 8


def environment_result(row) -> dict:
    return {"environmentId": row["environment_id"], "environmentSpec": row["spec"]}


def _by_name(connection, name):
    row = store.environment(connection, name)
    if row is None:
        raise ApiError(404, NOT_FOUND)
    return row


def successor(environments: dict[str, dict], name: str) -> dict | None:
    """The environment a notebook of ``name`` runs in at its next start: ``name``'s, or the end
    of its ``redirectTo`` chain (None if ``name`` is gone)."""
    row = environments.get(name)
    for _ in range(MAX_REDIRECTS):
        target = row and row["spec"].get("redirectTo")
        if not target or target not in environments:
            break
        row = environments[target]
    return row


def pending_restart(notebook: dict, environments: dict[str, dict]) -> str | None:
    """Why a notebook's next start would run something else than its spec holds, or None."""
    name = notebook["spec"]["environment"]["name"]
    current = environments.get(name)
    if current is None:
        return None
    deprecated = current["spec"].get("deprecated")
    target = successor(environments, name)
    if target is not None and target["name"] != name:
        why = f"is deprecated ({deprecated})" if deprecated else "is redirected"
        return f"Environment '{name}' {why}: the next start moves the notebook to '{target['name']}'"
    if deprecated:
        return (
            f"Environment '{name}' is deprecated ({deprecated}): stop the notebook and change its environment (PATCH)"
        )
    known = notebook.get("environment_revision")
    if known is not None and current["revision"] != known:
        return f"Environment '{name}' changed (revision {current['revision']}): the next start takes its new spec"
    return None


class Environments:
    def __init__(self, *, database: Database, members: Members, policy: SubmarinePolicy):
        self.database = database
        self.members = members
        self.policy = policy
        self.ids = IdGenerator("environment")

    def _validate(self, model, data, prefix=""):
        return specs.validate(model, data, self.policy.context, prefix=prefix)

    @staticmethod
    def _require_writer(caller: Caller):
        if not caller.environments:
            raise ApiError(403, f"Changing environments needs an admin or the {ENVIRONMENTS_SCOPE} scope")

    async def member(self, caller: Caller, for_user: str | None = None) -> Member:
        """Whose use decides what the caller sees: the caller's, or (the spawn form) the user's
        the hub's spawners name. Admins and those who keep the catalogue see it all."""
        if caller.spawner and for_user:
            return await self.members.of(for_user)
        if caller.admin or caller.environments:
            return Member(admin=True)
        return await self.members.of(caller.name) if caller.kind == "user" else Member()

    async def list(self, caller: Caller, for_user: str | None = None) -> list[dict]:
        member = await self.member(caller, for_user)
        return [
            environment_result(row)
            for row in await self.database.read(store.all_environments)
            if member.may_use(row["spec"])
        ]

    async def get(self, caller: Caller, name: str) -> dict:
        row = await self.database.read(_by_name, name)
        if not (await self.member(caller)).may_use(row["spec"]):
            raise ApiError(404, NOT_FOUND)  # as if it were not there
        return environment_result(row)

    async def for_notebook(
        self, name: str, owner: str, caller_admin: bool = False, new: bool = True
    ) -> tuple[dict, int]:
        """``(spec, revision)`` of environment ``name`` for a notebook of ``owner``, checked
        against today's policies (pip URLs may have been allowed when it was stored): 403 if
        the owner may not use it, 409 if it is deprecated and the notebook ``new``."""
        row = await self.database.read(_by_name, name)
        spec = row["spec"]
        self._validate(EnvironmentSpec, spec, prefix="environment")
        if not caller_admin:
            await self.check_access(spec, owner)
        if new and spec.get("deprecated"):
            instead = (
                f"; use '{spec['redirectTo']}' instead" if spec.get("redirectTo") else "; choose another environment"
            )
            raise ApiError(409, f"Environment '{name}' is deprecated: {spec['deprecated']}{instead}")
        return spec, row["revision"]

    async def check_access(self, spec: dict, owner: str):
        """403 unless ``owner`` may use the environment (asked of the hub now)."""
        if spec.get("groups") and not (await self.members.of(owner, fresh=True)).may_use(spec):
            raise ApiError(
                403,
                f"Environment '{spec['name']}' is for the members of {', '.join(spec['groups'])}, "
                f"and '{owner}' is in none of them; ask an admin to add them",
            )

    async def create(self, caller: Caller, body) -> dict:
        self._require_writer(caller)
        spec = self._validate(EnvironmentSpec, body).model_dump()

        def insert(connection, row):
            if store.environment(connection, spec["name"]):
                raise ApiError(409, f"An environment named '{spec['name']}' already exists")
            self._check_redirect(connection, spec)
            store.insert_environment(connection, row)

        now = utcnow()
        row = await insert_with_fresh_id(
            self.database,
            self.ids,
            lambda environment_id: {
                "environment_id": environment_id,
                "name": spec["name"],
                "spec": spec,
                "created": now,
                "updated": now,
                "revision": 1,
            },
            insert,
        )
        return environment_result(row)

    @staticmethod
    def _check_redirect(connection, spec: dict):
        if spec.get("redirectTo") and store.environment(connection, spec["redirectTo"]) is None:
            raise ApiError(400, f"redirectTo: there is no environment named '{spec['redirectTo']}'")

    async def update(self, caller: Caller, name: str, body) -> dict:
        self._require_writer(caller)
        patch = self._validate(specs.EnvironmentPatch, body).model_dump(exclude_unset=True)
        if patch.get("name", name) != name:
            raise ApiError(400, f"name: an environment cannot be renamed ('{name}' in the path)")

        def change(connection):
            row = dict(_by_name(connection, name))
            spec = self._validate(EnvironmentSpec, {**row["spec"], **patch}).model_dump()
            self._check_redirect(connection, spec)
            # as stored (valid when stored), with the fields of today's model
            before = EnvironmentSpec.model_validate(row["spec"], context={"allow_pip_urls": True}).model_dump()
            changed_runs = any(spec[field] != before[field] for field in RUN_FIELDS)
            row["spec"], row["revision"] = spec, row["revision"] + changed_runs
            store.change_environment(connection, name, spec, row["revision"])
            return row

        return environment_result(await self.database.run(change))

    async def delete(self, caller: Caller, name: str) -> dict:
        self._require_writer(caller)

        def remove(connection):
            row = _by_name(connection, name)
            store.delete_environment(connection, name)
            return row

        return environment_result(await self.database.run(remove))
