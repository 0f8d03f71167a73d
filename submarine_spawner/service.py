"""How the hub's spawners (and their spawn form) talk to the Submarine service, over HTTP.

Through the service's ``url`` in the hub's services (as the proxy reaches it), with the API
token of a hub service made for this alone (``token_service_name``: ``submarine-spawner``
in jupyterhub_config.py). Its scopes: ``access:services!service=submarine`` to reach the
service, and ``custom:submarine:admission`` to ask it to admit starts and to report how
servers end. Nothing else can use those two endpoints; the token holds no other power,
neither in the service (it is no admin and owns no notebooks) nor on the hub.
"""

import asyncio
import json
import time

from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Float, Unicode
from traitlets.config import LoggingConfigurable

from .contract import AdmittedSpec


def refusal(message: str, status: int = 400) -> web.HTTPError:
    """An error the hub shows as it is: in its API's answer, above the spawn form (a POST) or
    on its error page (a GET)."""
    error = web.HTTPError(status, "%s", message)
    error.jupyterhub_message = message
    return error


class SubmarineServiceClient(LoggingConfigurable):
    """The Submarine service, as one spawner (its parent) reaches it; ``c.SubmarineServiceClient``."""

    service_name = Unicode(
        "submarine",
        help="The hub service (in c.JupyterHub.services) that is the Submarine service; the "
        "spawners reach it at its `url`.",
    ).tag(config=True)

    token_service_name = Unicode(
        "submarine-spawner",
        help="The hub service whose api_token the spawners send to the Submarine service. Give it "
        "only the scopes access:services!service=<service_name> and custom:submarine:admission "
        "(a role).",
    ).tag(config=True)

    request_timeout = Float(
        30,
        help="Seconds a spawner waits for the Submarine service before it says so (and refuses "
        "the start it was asked to admit). The wait is counted on the hub's event loop, which a "
        "hub with 10,000 servers holds for up to 17 s at a time (its last-activity update), so "
        "keep it well above that.",
    ).tag(config=True)

    report_patience = Float(
        120,
        help="Seconds a spawner keeps retrying a report of how its server ended while the Submarine "
        "service does not answer; past them, the service's next full pass over the hub's servers finds out.",
    ).tag(config=True)

    def _service(self, settings, name: str):
        service = (settings.get("services") or {}).get(name)
        if service is None:
            raise refusal(f"The hub has no service named '{name}' (SubmarineServiceClient settings)", 500)
        return service

    async def call(self, settings, method: str, path: str, body=None):
        """The result of ``<method> <service>/api/v1/<path>``; the service's message as an HTTPError
        (its status) otherwise."""
        url = url_path_join(self._service(settings, self.service_name).url, "api/v1", path)
        token = self._service(settings, self.token_service_name).api_token
        request = HTTPRequest(
            url,
            method=method,
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
            request_timeout=self.request_timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (HTTPClientError, OSError, asyncio.TimeoutError) as e:
            raise refusal(f"The Submarine service did not answer ({e}); try again", 503) from None
        if response.code == 599:
            raise refusal(f"The Submarine service did not answer ({response.error}); try again", 503)
        try:
            body = json.loads(response.body)
            message = body["message"]
        except (TypeError, ValueError, KeyError):
            raise refusal(f"The Submarine service answered {response.code} without its envelope", 502) from None
        if response.code in (401, 403) and "scope" in (message or ""):
            raise refusal(f"The Submarine service refused the spawners' token: {message}", 500)
        if response.code >= 400:
            raise refusal(message, response.code if response.code < 500 else 503)
        return body["result"]

    async def admit(self, spawner, user_options: dict) -> AdmittedSpec:
        """The spec this start of ``spawner``'s server may run, or the refusal (an HTTPError)."""
        result = await self.call(
            spawner.user.settings,
            "POST",
            "spawner/admission",
            {
                "owner": spawner.user.name,
                "server": spawner.name,
                "displayName": getattr(spawner.orm_spawner, "display_name", None) or None,
                "userOptions": user_options or {},
            },
        )
        return AdmittedSpec.model_validate(result, context={"allow_pip_urls": True})

    async def report(self, spawner, body: dict, current=lambda: True):
        """Tell the service how ``spawner``'s server ended. While the service does not answer,
        retry with backoff for ``report_patience`` seconds, as long as ``current()`` (the report
        is still about the server's latest start); past them, the service's next full pass over
        the hub's servers finds out."""
        deadline = time.monotonic() + self.report_patience
        delay = 1.0
        while True:
            try:
                await self.call(spawner.user.settings, "POST", "spawner/report", body)
                return
            except web.HTTPError as e:
                if e.status_code not in (502, 503) or time.monotonic() + delay > deadline:
                    self.log.warning(
                        "Could not report %s of %s to the Submarine service: %s",
                        body["event"],
                        spawner._log_name,
                        getattr(e, "jupyterhub_message", e),
                    )
                    return
            await asyncio.sleep(delay)
            delay = min(2 * delay, 30)
            if not current():
                return
