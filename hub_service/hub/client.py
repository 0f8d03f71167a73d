"""The JupyterHub REST API, as the service uses it (users, named servers, progress).

Every failure is a :class:`HubError` with the HTTP status the hub answered, or 503 when the
hub could not be reached or did not answer in time (Tornado raises those even with
``raise_error=False``): never an exception of the HTTP library.
"""

import asyncio
import json
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError

PAGINATION = "application/jupyterhub-pagination+json"
PAGE = 200  # the hub's largest page


class HubError(Exception):
    """The hub refused or failed a request; ``code`` is its HTTP status (503: unreachable)."""

    def __init__(self, code: int, message: str, headers=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def retry_after(self) -> float | None:
        """The hub's Retry-After, in seconds, if it said one."""
        try:
            return float(self.headers.get("Retry-After", ""))
        except ValueError:
            return None


def _message(body: bytes, fallback: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return fallback
    if isinstance(data, dict) and data.get("message"):
        return data["message"]
    return fallback


class HubClient:
    def __init__(self, api_url: str, token: str, timeout: float = 30, max_streams: int = 200):
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
            headers={"Authorization": f"token {self.token}", "Accept": accept, "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            **kwargs,
        )

    def _unreachable(self, error) -> HubError:
        return HubError(503, f"JupyterHub's API at {self.api_url} did not answer ({error})", {"Retry-After": "5"})

    async def _fetch(self, method, path, body=None, accept="application/json"):
        request = self._request(method, path, body, accept, request_timeout=self.timeout)
        try:
            response = await self._client.fetch(request, raise_error=False)
        except (HTTPClientError, OSError, StreamClosedError, asyncio.TimeoutError) as e:
            raise self._unreachable(e) from None
        if response.code == 599:
            raise self._unreachable(response.error)
        if response.code >= 400:
            raise HubError(response.code, _message(response.body, response.reason), dict(response.headers))
        return response

    async def call(self, method: str, path: str, body=None, accept="application/json"):
        """One API call: the decoded JSON body (or None); HubError on any failure."""
        response = await self._fetch(method, path, body, accept)
        if response.body and "json" in response.headers.get("Content-Type", ""):
            return json.loads(response.body)
        return None

    @staticmethod
    def server_path(user: str, server: str = "") -> str:
        path = f"/users/{quote(user, safe='')}"
        return f"{path}/servers/{quote(server, safe='')}" if server else path

    async def ensure_user(self, user: str):
        """Create the user unless the hub has it already."""
        try:
            await self.call("POST", self.server_path(user))
        except HubError as e:
            if e.code != 409:  # "User already exists"
                raise

    async def create_server(self, user, server, display_name, user_options) -> dict:
        """PUT: create a named server without starting it (409 if it exists)."""
        body = {"display_name": display_name, "user_options": user_options}
        return await self.call("PUT", self.server_path(user, server), body)

    async def patch_server(self, user, server, user_options) -> dict:
        """New user_options for a stopped server (400 while it is active)."""
        return await self.call("PATCH", self.server_path(user, server), {"user_options": user_options})

    async def start_server(self, user, server) -> int:
        """POST with no options: start with the stored user_options; 201 started, 202 starting."""
        return (await self._fetch("POST", self.server_path(user, server), {})).code

    async def get_server(self, user, server) -> dict | None:
        """The server's model; None if the hub has no such user or server."""
        try:
            return await self.call("GET", self.server_path(user, server))
        except HubError as e:
            if e.code == 404:
                return None
            raise

    async def delete_server(self, user, server, remove=True) -> int:
        """Stop (and remove) a server: 204 done, 202 the hub finishes after the stop, 404 none."""
        try:
            return (await self._fetch("DELETE", self.server_path(user, server), {"remove": remove})).code
        except HubError as e:
            if e.code == 404:
                return 404
            raise

    async def users(self, state: str | None = None, include_stopped: bool = False):
        """Every user with their servers (``state="active"``: only users with an active server,
        and only those servers), a page at a time."""
        query = {"limit": PAGE}
        if state:
            query["state"] = state
        if include_stopped:
            query["include_stopped_servers"] = 1
        offset = 0
        while True:
            page = await self.call("GET", f"/users?{urlencode({**query, 'offset': offset})}", accept=PAGINATION)
            yield page["items"]
            following = page["_pagination"].get("next")
            if not following:
                return
            offset = following["offset"]

    async def get_user(self, user: str) -> dict | None:
        """The user's model (groups, admin); None if the hub has no such user."""
        try:
            return await self.call("GET", self.server_path(user))
        except HubError as e:
            if e.code == 404:
                return None
            raise

    async def share(self, user, server, kind: str, name: str):
        """Grant ``kind`` ("user" or "group") ``name`` access to the server (JupyterHub's shares)."""
        return await self.call("POST", f"/shares/{quote(user, safe='')}/{quote(server, safe='')}", {kind: name})

    async def unshare(self, user, server, kind: str, name: str):
        """Revoke what a share granted ``kind`` ``name`` on the server."""
        return await self.call("PATCH", f"/shares/{quote(user, safe='')}/{quote(server, safe='')}", {kind: name})

    async def shares_of(self, user, server) -> set[tuple[str, str]]:
        """``{(kind, name)}`` the server is shared with."""
        page = await self.call("GET", f"/shares/{quote(user, safe='')}/{quote(server, safe='')}")
        return {
            ("user", item["user"]["name"]) if item.get("user") else ("group", item["group"]["name"])
            for item in page["items"]
        }

    async def get_group(self, group: str) -> dict | None:
        """The group's model (its users); None if the hub has no such group."""
        try:
            return await self.call("GET", f"/groups/{quote(group, safe='')}")
        except HubError as e:
            if e.code == 404:
                return None
            raise

    async def note_activity(self, user, server, when: str):
        """Tell the hub the server was active at ``when`` (ISO 8601)."""
        return await self.call(
            "POST", self.server_path(user) + "/activity", {"servers": {server: {"last_activity": when}}}
        )

    async def servers(self, state: str | None = None, include_stopped: bool = False) -> dict:
        """``{(user, server): server model}`` of every named server the listing shows."""
        found = {}
        async for users in self.users(state, include_stopped):
            for user in users:
                for name, server in (user.get("servers") or {}).items():
                    if name:
                        found[user["name"], name] = server
        return found

    async def progress(self, user, server):
        """Yield the spawn progress events of a pending server until the stream ends.

        Raises HubError if the hub does not stream (e.g. 400: the server is not starting).
        """
        queue: asyncio.Queue = asyncio.Queue()
        request = self._request(
            "GET",
            self.server_path(user, server) + "/progress",
            accept="text/event-stream",
            streaming_callback=queue.put_nowait,
            request_timeout=24 * 3600,
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
        try:
            response = fetch.result()
        except (HTTPClientError, OSError, StreamClosedError) as e:
            raise self._unreachable(e) from None
        if response.code == 599:
            raise self._unreachable(response.error)
        if response.code != 200:
            raise HubError(response.code, _message(body, response.reason))
