"""``/api/v1/notebook``: Submarine's notebook endpoints, with its messages."""

from .base import ApiHandler


class NotebookBase(ApiHandler):
    @property
    def notebooks(self):
        return self.settings["notebooks"]


class NotebookListHandler(NotebookBase):
    async def get(self):
        results, attributes = await self.notebooks.list(
            self.caller,
            owner=self.get_query_argument("id", None) or None,
            status=self.get_query_argument("status", None) or None,
            limit=self.int_argument("limit", None, minimum=1, maximum=1000),
            offset=self.int_argument("offset", 0, minimum=0),
        )
        self.ok("List all notebook instances", results, attributes)

    async def post(self):
        self.ok("Create a notebook instance", await self.notebooks.create(self.caller, self.json_body()))


class NotebookHandler(NotebookBase):
    async def get(self, notebook_id):
        self.ok("Get the notebook instance", await self.notebooks.get(self.caller, notebook_id))

    async def delete(self, notebook_id):
        self.ok("Delete the notebook instance", await self.notebooks.delete(self.caller, notebook_id))


class PingHandler(ApiHandler):
    async def get(self):
        self.ok(None, "Pong")
