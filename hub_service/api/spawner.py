"""``/api/v1/spawner``: the hub's spawners ask for admission of each start and report ends."""

from .base import ApiHandler


class AdmissionHandler(ApiHandler):
    async def post(self):
        self.ok("Admitted", await self.settings["admission"].admit(self.caller, await self.json_body()))


class ReportHandler(ApiHandler):
    async def post(self):
        await self.settings["admission"].report(self.caller, await self.json_body())
        self.ok("Noted")
