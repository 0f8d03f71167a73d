"""The environment catalogue: create, list, read, change and delete environments.

Reading needs any valid token; writing needs an admin or the
``custom:submarine:environments`` scope. Notebooks copy the spec they were
created with, so changing or deleting an environment never breaks one.
"""

from sqlalchemy import delete, select, update

from submarine_spawner.kernelspec import KernelSpecPolicy

from . import specs
from .caller import ENVIRONMENTS_SCOPE, Caller
from .db import Database, environments, utcnow
from .envelope import ApiError
from .ids import IdGenerator, insert_with_fresh_id

NOT_FOUND = "Environment not found."


def environment_result(row) -> dict:
    return {"environmentId": row["environment_id"], "environmentSpec": row["spec"]}


def _by_name(connection, name):
    row = connection.execute(select(environments).where(environments.c.name == name)).mappings().first()
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
        def rows(connection):
            return connection.execute(select(environments).order_by(environments.c.name)).mappings().all()

        return [environment_result(row) for row in await self.database.run(rows)]

    async def get(self, name: str) -> dict:
        return environment_result(await self.database.run(_by_name, name))

    async def create(self, caller: Caller, body) -> dict:
        self._require_writer(caller)
        spec = self._validate(specs.EnvironmentSpec, body).model_dump()

        def conflict(connection):
            taken = connection.execute(select(environments.c.name).where(environments.c.name == spec["name"]))
            return taken.first() and f"An environment named '{spec['name']}' already exists"

        now = utcnow()
        row = await insert_with_fresh_id(
            self.database, environments, self.ids,
            lambda environment_id: {"environment_id": environment_id, "name": spec["name"], "spec": spec,
                                    "created": now, "updated": now},
            conflict,
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
            connection.execute(update(environments).where(environments.c.name == name)
                               .values(spec=row["spec"], updated=utcnow()))
            return row

        return environment_result(await self.database.run(change))

    async def delete(self, caller: Caller, name: str) -> dict:
        self._require_writer(caller)

        def remove(connection):
            row = _by_name(connection, name)
            connection.execute(delete(environments).where(environments.c.name == name))
            return row

        return environment_result(await self.database.run(remove))
