"""``/api/v1/environment``: the environment catalogue."""

from .base import ApiHandler


class EnvironmentBase(ApiHandler):
    @property
    def environments(self):
        return self.settings["environments"]


class EnvironmentListHandler(EnvironmentBase):
    async def get(self):
        # ?user=: the spawn form asks for the environments of the user it is shown to
        self.ok(
            "List all environments", await self.environments.list(self.caller, self.get_query_argument("user", None))
        )

    async def post(self):
        self.ok("Create an environment", await self.environments.create(self.caller, await self.json_body()))


class EnvironmentHandler(EnvironmentBase):
    async def get(self, name):
        self.ok("Get the environment", await self.environments.get(self.caller, name))

    async def patch(self, name):
        self.ok("Update the environment", await self.environments.update(self.caller, name, await self.json_body()))

    async def delete(self, name):
        self.ok("Delete the environment", await self.environments.delete(self.caller, name))
