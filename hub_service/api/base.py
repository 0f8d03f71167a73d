"""The base of every API handler: JupyterHub auth, request bodies and Submarine's envelope."""

import asyncio
import json
import logging
from http import HTTPStatus

import yaml
from jupyterhub.services.auth import HubOAuthenticated, UserNotAllowed
from tornado import web

from ..caller import Caller
from ..errors import ApiError

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
MAX_BODY = 256 * 1024  # bytes: a notebook or an environment is a few KB
MAX_DEPTH = 32  # nesting of objects and lists
MAX_NODES = 20_000  # values in a body, aliases counted each time (YAML "billion laughs")
READS = ("GET", "HEAD", "OPTIONS")


def envelope(code: int, message: str | None = None, result=None, attributes: dict | None = None) -> dict:
    """Submarine's envelope of every response, errors included. ``status`` is the HTTP reason in
    JAX-RS enum style: OK, BAD_REQUEST, NOT_FOUND, ..."""
    return {
        "status": HTTPStatus(code).name,
        "code": code,
        "success": code < 400,
        "message": message,
        "result": result,
        "attributes": attributes or {},
    }


# the C parser when PyYAML has it: the pure-Python one is slow enough to stall the service
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_body(body: bytes, yaml_text: bool):
    """A request body as data, within the size, depth and value limits (run off the event loop)."""
    try:
        text = body.decode("utf8")
        data = yaml.load(text, Loader=YAML_LOADER) if yaml_text else json.loads(text)
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ApiError(400, f"The request body is not valid JSON: {e}") from None
    except yaml.YAMLError as e:
        raise ApiError(400, f"The request body is not valid YAML: {e}".replace("\n", " ")) from None
    except RecursionError:
        raise ApiError(400, f"The request body nests deeper than {MAX_DEPTH} levels") from None
    check_shape(data)
    return data


def check_shape(data):
    """At most MAX_DEPTH levels and MAX_NODES values (a value reached twice counts twice)."""
    stack, nodes = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise ApiError(400, f"The request body nests deeper than {MAX_DEPTH} levels")
        if nodes > MAX_NODES:
            raise ApiError(400, f"The request body holds more than {MAX_NODES} values")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)


class ApiHandler(HubOAuthenticated, web.RequestHandler):
    """Token (``Authorization: token|Bearer``) or hub OAuth cookie; never a login redirect."""

    caller: Caller

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self):
        """None: answers are never cached (``no-store``), so hashing each body is wasted."""
        return None

    def get_current_user(self):
        return getattr(self, "_hub_user", None)

    async def _identify(self) -> dict | None:
        """The hub's model of the caller; a change is authorised by the hub now: a revoked token,
        a deleted user or a demoted admin has no say from the moment the hub knows."""
        try:
            model = await self.hub_auth.get_user(self, sync=False)
            if model and self.request.method not in READS:
                token = self.hub_auth.get_token(self)
                model = await self.hub_auth.user_for_token(token, use_cache=False, sync=False) if token else None
        except web.HTTPError as e:
            if e.status_code < 500:
                raise
            raise ApiError(
                503,
                f"JupyterHub did not answer the check of your token ({e.log_message}); nothing was "
                "done: try again later",
                {"Retry-After": "10"},
            ) from None
        return model

    async def prepare(self):
        model = await self._identify()
        if not model:
            raise ApiError(
                401,
                "Authentication required: send 'Authorization: token <JupyterHub API token>' "
                f"(get one at {self.settings['token_page']}) or log in through the hub",
            )
        try:
            self.check_hub_user(model)
        except UserNotAllowed:
            needed = " or ".join(sorted(self.hub_auth.access_scopes))
            raise ApiError(
                403,
                f"The token of {model.get('kind', 'user')} '{model['name']}' lacks the "
                f"scope {needed}; ask an admin to grant it",
            ) from None
        self._hub_user = model
        self.caller = Caller.from_model(model)

    async def json_body(self):
        """The request body as data: JSON, or YAML as Submarine also accepts."""
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES + YAML_TYPES:
            raise ApiError(
                415, f"Content-Type must be application/json (or application/yaml), not '{content_type or 'none'}'"
            )
        body = self.request.body
        if len(body) > MAX_BODY:
            raise ApiError(413, f"The request body is larger than {MAX_BODY // 1024} KiB")
        if not body.strip():
            raise ApiError(400, "The request body is empty: send a JSON object")
        return await asyncio.to_thread(parse_body, body, content_type in YAML_TYPES)

    def int_argument(self, name, default, minimum, maximum=None):
        text = self.get_query_argument(name, None)
        if text in (None, ""):
            return default
        try:
            value = int(text)
        except ValueError:
            raise ApiError(400, f"{name}: '{text}' is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ApiError(400, f"{name}: must be {bounds}")
        return value

    def ok(self, message, result=None, attributes=None):
        self.finish(json.dumps(envelope(200, message, result, attributes)))

    def accepted(self, message, result):
        """202: asked for, not yet done (the hub has not answered); the service carries it out."""
        self.set_status(202)
        self.finish(
            json.dumps(
                envelope(
                    202,
                    f"{message}: accepted; JupyterHub has not answered yet, and the "
                    "service will carry it out when it does",
                    result,
                )
            )
        )

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            code, message = error.code, error.message
            for name, value in error.headers.items():
                self.set_header(name, value)
        elif isinstance(error, web.HTTPError):
            code = error.status_code
            message = (error.log_message % error.args if error.log_message else None) or self._reason
        else:
            code, message = 500, "Internal error in the Submarine service; its log has the details"
        if code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.set_status(code)
        self.finish(json.dumps(envelope(code, message)))

    def allowed_methods(self) -> list[str]:
        """The methods this handler implements (tornado's defaults answer 405)."""
        return [
            method
            for method in self.SUPPORTED_METHODS
            if getattr(type(self), method.lower()) is not getattr(web.RequestHandler, method.lower())
        ]

    def log_exception(self, typ, value, tb):
        if isinstance(value, ApiError):
            log.debug("%s %s: %d %s", self.request.method, self.request.path, value.code, value.message)
        else:
            super().log_exception(typ, value, tb)


class NotFoundHandler(ApiHandler):
    """Anything else under the service: a 404 envelope, after auth like everything."""

    async def prepare(self):
        await super().prepare()
        raise ApiError(
            404,
            f"No such endpoint: {self.request.method} {self.request.path} "
            "(see /api/v1/notebook and /api/v1/environment)",
        )


class HomeHandler(HubOAuthenticated, web.RequestHandler):
    """The service's page for browsers: logs in through the hub (OAuth), then says who you are."""

    async def get(self):
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            self.redirect(self.get_login_url())
            return
        caller = Caller.from_model(model)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(
            json.dumps(
                envelope(
                    200,
                    f"Logged in as {caller.name}",
                    {
                        "name": caller.name,
                        "admin": caller.admin,
                        "notebooks": self.settings["api_prefix"] + "notebook",
                        "environments": self.settings["api_prefix"] + "environment",
                    },
                )
            )
        )
