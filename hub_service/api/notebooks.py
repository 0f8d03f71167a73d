"""``/api/v1/notebook``: Submarine's notebook endpoints, with its messages, and the
lifecycle beyond them (stop, start, change, events, logs)."""

import json

from tornado.iostream import StreamClosedError

from .base import ApiHandler

MAX_OFFSET = 2**31 - 1


class NotebookBase(ApiHandler):
    @property
    def notebooks(self):
        return self.settings["notebooks"]

    def answer(self, message, result, accepted: bool):
        """200 when the hub has done (or begun) the change, 202 when it is yet to answer."""
        if accepted:
            self.accepted(message, result)
        else:
            self.ok(message, result)


class NotebookListHandler(NotebookBase):
    async def get(self):
        results, attributes = await self.notebooks.list(
            self.caller,
            owner=self.get_query_argument("id", None) or None,
            status=self.get_query_argument("status", None) or None,
            limit=self.int_argument("limit", None, minimum=1, maximum=1000),
            offset=self.int_argument("offset", 0, minimum=0, maximum=MAX_OFFSET),
        )
        self.ok("List all notebook instances", results, attributes)

    async def post(self):
        self.ok("Create a notebook instance", await self.notebooks.create(self.caller, await self.json_body()))


class NotebookHandler(NotebookBase):
    async def get(self, notebook_id):
        self.ok("Get the notebook instance", await self.notebooks.get(self.caller, notebook_id))

    async def patch(self, notebook_id):
        self.ok(
            "Update the notebook instance",
            await self.notebooks.update(self.caller, notebook_id, await self.json_body()),
        )

    async def delete(self, notebook_id):
        self.answer("Delete the notebook instance", *await self.notebooks.delete(self.caller, notebook_id))


class NotebookStopHandler(NotebookBase):
    async def post(self, notebook_id):
        self.answer("Stop the notebook instance", *await self.notebooks.stop(self.caller, notebook_id))


class NotebookStartHandler(NotebookBase):
    async def post(self, notebook_id):
        self.answer("Start the notebook instance", *await self.notebooks.start(self.caller, notebook_id))


class NotebookEventsHandler(NotebookBase):
    """The notebook's history; with ``Accept: text/event-stream``, live until the spawn ends."""

    async def get(self, notebook_id):
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            self.ok("List the notebook instance's events", await self.notebooks.events(self.caller, notebook_id))
            return
        events = self.notebooks.follow(self.caller, notebook_id)
        first = await anext(events, None)  # a 404 or 403 is still an envelope
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        try:
            while first is not None:
                self.write(f"id: {first['id']}\ndata: {json.dumps(first)}\n\n")
                await self.flush()
                first = await anext(events, None)
        except StreamClosedError:
            pass
        finally:
            await events.aclose()


class NotebookLogsHandler(NotebookBase):
    async def get(self, notebook_id):
        lines = self.int_argument("tail", 100, minimum=1, maximum=10000)
        self.ok("Get the notebook instance's logs", await self.notebooks.log_lines(self.caller, notebook_id, lines))


class NotebookSharesHandler(NotebookBase):
    async def get(self, notebook_id):
        self.ok("List the notebook instance's shares", await self.notebooks.shares(self.caller, notebook_id))

    async def post(self, notebook_id):
        self.ok(
            "Share the notebook instance", await self.notebooks.share(self.caller, notebook_id, await self.json_body())
        )


class NotebookShareHandler(NotebookBase):
    async def delete(self, notebook_id, kind, name):
        self.ok(
            "Stop sharing the notebook instance", await self.notebooks.unshare(self.caller, notebook_id, kind, name)
        )


class PingHandler(ApiHandler):
    async def get(self):
        self.ok(None, "Pong")
