"""The JupyterHub REST API, as the service uses it (named servers, users, progress)."""

import asyncio
import json
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

PAGINATION = "application/jupyterhub-pagination+json"


class HubError(Exception):
    """The hub refused or failed a request; ``code`` is its HTTP status (503: unreachable)."""

    def __init__(self, code: int, message: str, headers=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.headers = headers or {}


def _message(body: bytes, fallback: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return fallback
    if isinstance(data, dict) and data.get("message"):
        return data["message"]
    return fallback


class HubClient:
    def __init__(self, api_url: str, token: str, timeout: float = 60, max_streams: int = 200):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._client = AsyncHTTPClient(force_instance=True, max_clients=64)
        # progress streams are long-lived: keep them from starving ordinary calls
        self._streams = AsyncHTTPClient(force_instance=True, max_clients=max_streams)

    def close(self):
        self._client.close()
        self._streams.close()

    def _request(self, method, path, body=None, accept="application/json", **kwargs):
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = {}
        return HTTPRequest(
            self.api_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}", "Accept": accept,
                     "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            **kwargs,
        )

    async def _fetch(self, method, path, body=None, accept="application/json"):
        request = self._request(method, path, body, accept, request_timeout=self.timeout)
        response = await self._client.fetch(request, raise_error=False)
        if response.code == 599:
            raise HubError(503, f"JupyterHub API unreachable at {self.api_url}: {response.error}")
        if response.code >= 400:
            raise HubError(response.code, _message(response.body, response.reason),
                           dict(response.headers))
        return response

    async def call(self, method: str, path: str, body=None, accept="application/json"):
        """One API call: the decoded JSON body (or None); HubError on any 4xx/5xx."""
        response = await self._fetch(method, path, body, accept)
        if response.body and "json" in response.headers.get("Content-Type", ""):
            return json.loads(response.body)
        return None

    @staticmethod
    def server_path(user: str, server: str = "") -> str:
        path = f"/users/{quote(user, safe='')}"
        return f"{path}/servers/{quote(server, safe='')}" if server else path

    async def create_user(self, user: str):
        return await self.call("POST", self.server_path(user))

    async def delete_user(self, user: str):
        return await self.call("DELETE", self.server_path(user))

    async def create_server(self, user, server, display_name, user_options) -> dict:
        """PUT: create a named server without starting it (409 if it exists)."""
        body = {"display_name": display_name, "user_options": user_options}
        return await self.call("PUT", self.server_path(user, server), body)

    async def patch_server(self, user, server, user_options) -> dict:
        """New user_options for a stopped server (400 while it is active)."""
        return await self.call("PATCH", self.server_path(user, server), {"user_options": user_options})

    async def start_server(self, user, server):
        """POST with no options: start with the stored user_options."""
        return await self.call("POST", self.server_path(user, server))

    async def get_server(self, user, server) -> dict:
        return await self.call("GET", self.server_path(user, server))

    async def delete_server(self, user, server, remove=True) -> int:
        """Stop (and remove) a server: 204 done, 202 the hub finishes after the stop."""
        response = await self._fetch("DELETE", self.server_path(user, server), {"remove": remove})
        return response.code

    async def list_users(self) -> list[dict]:
        """Every user with every server, stopped ones included, page by page."""
        users, offset = [], 0
        while True:
            page = await self.call(
                "GET", f"/users?include_stopped_servers=1&offset={offset}&limit=200", accept=PAGINATION
            )
            users.extend(page["items"])
            following = page["_pagination"].get("next")
            if not following:
                return users
            offset = following["offset"]

    async def progress(self, user, server):
        """Yield the spawn progress events of a pending server until the stream ends.

        Raises HubError if the hub does not stream (e.g. 400: the server is not starting).
        """
        queue: asyncio.Queue = asyncio.Queue()
        request = self._request(
            "GET", self.server_path(user, server) + "/progress", accept="text/event-stream",
            streaming_callback=queue.put_nowait, request_timeout=24 * 3600,
        )
        fetch = asyncio.ensure_future(self._streams.fetch(request, raise_error=False))
        fetch.add_done_callback(lambda _: queue.put_nowait(None))
        buffer = body = b""
        while (chunk := await queue.get()) is not None:
            body = (body + chunk)[-4096:]
            buffer += chunk
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                for line in event.splitlines():
                    if line.startswith(b"data:"):
                        yield json.loads(line[5:])
        response = fetch.result()
        if response.code == 599:
            raise HubError(503, f"JupyterHub API unreachable at {self.api_url}: {response.error}")
        if response.code != 200:
            raise HubError(response.code, _message(body, response.reason))
