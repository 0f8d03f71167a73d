"""The environment catalogue: create, list, read, change and delete environments.

Reading needs any valid token; writing needs an admin or the
``custom:submarine:environments`` scope. Notebooks copy the spec they were
created with, so changing or deleting an environment never breaks one.
"""

from sqlalchemy import select

from . import specs
from .caller import ENVIRONMENTS_SCOPE, Caller
from .db import Environment
from .envelope import ApiError
from .ids import IdGenerator, insert_with_fresh_id

NOT_FOUND = "Environment not found."


def environment_result(row: Environment) -> dict:
    return {"environmentId": row.environment_id, "environmentSpec": row.spec}


class Environments:
    def __init__(self, sessions):
        self.sessions = sessions
        self.ids = IdGenerator("environment")

    @staticmethod
    def _require_writer(caller: Caller):
        if not caller.environments:
            raise ApiError(403, f"Changing environments needs an admin or the {ENVIRONMENTS_SCOPE} scope")

    async def _row(self, session, name) -> Environment:
        row = (await session.execute(select(Environment).where(Environment.name == name))).scalar()
        if row is None:
            raise ApiError(404, NOT_FOUND)
        return row

    async def spec(self, name: str) -> dict:
        """The full EnvironmentSpec a new notebook copies."""
        async with self.sessions() as session:
            return (await self._row(session, name)).spec

    async def list(self) -> list[dict]:
        async with self.sessions() as session:
            rows = (await session.execute(select(Environment).order_by(Environment.name))).scalars()
            return [environment_result(row) for row in rows]

    async def get(self, name: str) -> dict:
        async with self.sessions() as session:
            return environment_result(await self._row(session, name))

    async def create(self, caller: Caller, body) -> dict:
        self._require_writer(caller)
        spec = specs.validate(specs.EnvironmentSpec, body).model_dump()

        async def conflict(session):
            taken = await session.execute(select(Environment.name).where(Environment.name == spec["name"]))
            return taken.first() and f"An environment named '{spec['name']}' already exists"

        row = await insert_with_fresh_id(
            self.sessions, self.ids,
            lambda environment_id: Environment(environment_id=environment_id, name=spec["name"], spec=spec),
            conflict,
        )
        return environment_result(row)

    async def update(self, caller: Caller, name: str, body) -> dict:
        self._require_writer(caller)
        patch = specs.validate(specs.EnvironmentPatch, body).model_dump(exclude_unset=True)
        if patch.get("name", name) != name:
            raise ApiError(400, f"name: an environment cannot be renamed ('{name}' in the path)")
        async with self.sessions() as session:
            row = await self._row(session, name)
            row.spec = specs.validate(specs.EnvironmentSpec, {**row.spec, **patch}).model_dump()
            await session.commit()
            return environment_result(row)

    async def delete(self, caller: Caller, name: str) -> dict:
        self._require_writer(caller)
        async with self.sessions() as session:
            row = await self._row(session, name)
            await session.delete(row)
            await session.commit()
            return environment_result(row)
