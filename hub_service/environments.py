"""The environment catalogue: create, list, read, change and delete environments.

Reading needs any valid token; writing needs an admin or the
``custom:submarine:environments`` scope. Notebooks copy the spec they were
created with, so changing or deleting an environment never breaks one.
"""

from submarine_spawner.kernelspec import KernelSpecPolicy

from . import specs, store
from .caller import ENVIRONMENTS_SCOPE, Caller
from .db import Database, utcnow
from .envelope import ApiError
from .ids import IdGenerator, insert_with_fresh_id

NOT_FOUND = "Environment not found."


def environment_result(row) -> dict:
    return {"environmentId": row["environment_id"], "environmentSpec": row["spec"]}


def _by_name(connection, name):
    row = store.environment(connection, name)
    if row is None:
        raise ApiError(404, NOT_FOUND)
    return row


class Environments:
    def __init__(self, database: Database, kernel_policy: KernelSpecPolicy | None = None):
        self.database = database
        self.ids = IdGenerator("environment")
        self.kernel_policy = kernel_policy or KernelSpecPolicy()

    def _validate(self, model, data, prefix=""):
        return specs.validate(model, data, prefix=prefix, context=self.kernel_policy.context)

    @staticmethod
    def _require_writer(caller: Caller):
        if not caller.environments:
            raise ApiError(403, f"Changing environments needs an admin or the {ENVIRONMENTS_SCOPE} scope")

    async def spec(self, name: str) -> dict:
        """The full EnvironmentSpec a new notebook copies, checked against today's
        KernelSpecPolicy (pip URLs may have been allowed when it was stored)."""
        spec = (await self.database.run(_by_name, name))["spec"]
        self._validate(specs.EnvironmentSpec, spec, prefix="environment")
        return spec

    async def list(self) -> list[dict]:
        return [environment_result(row) for row in await self.database.run(store.all_environments)]

    async def get(self, name: str) -> dict:
        return environment_result(await self.database.run(_by_name, name))

    async def create(self, caller: Caller, body) -> dict:
        self._require_writer(caller)
        spec = self._validate(specs.EnvironmentSpec, body).model_dump()

        def insert(connection, row):
            if store.environment(connection, spec["name"]):
                raise ApiError(409, f"An environment named '{spec['name']}' already exists")
            store.insert_environment(connection, row)

        now = utcnow()
        row = await insert_with_fresh_id(
            self.database, self.ids,
            lambda environment_id: {"environment_id": environment_id, "name": spec["name"], "spec": spec,
                                    "created": now, "updated": now},
            insert,
        )
        return environment_result(row)

    async def update(self, caller: Caller, name: str, body) -> dict:
        self._require_writer(caller)
        patch = self._validate(specs.EnvironmentPatch, body).model_dump(exclude_unset=True)
        if patch.get("name", name) != name:
            raise ApiError(400, f"name: an environment cannot be renamed ('{name}' in the path)")

        def change(connection):
            row = dict(_by_name(connection, name))
            row["spec"] = self._validate(specs.EnvironmentSpec, {**row["spec"], **patch}).model_dump()
            store.change_environment(connection, name, row["spec"])
            return row

        return environment_result(await self.database.run(change))

    async def delete(self, caller: Caller, name: str) -> dict:
        self._require_writer(caller)

        def remove(connection):
            row = _by_name(connection, name)
            store.delete_environment(connection, name)
            return row

        return environment_result(await self.database.run(remove))
