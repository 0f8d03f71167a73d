"""The hub home page's spawn form: a notebook from the browser.

:meth:`SubmarineSpawnForm.render` is both spawners' ``options_form``: it lists the
environments from the Submarine service's environment API (over HTTP: this
package never imports the service) and offers cpu, memory, GPUs (only where
``ResourcePolicy`` allows them and caps them above 0) and environment variables.
:meth:`SubmarineSpawnForm.user_options` is their ``options_from_form``: it makes exactly
the seam ``user_options`` the service sends (a fresh notebookId, the namespace,
the full environment spec read from the API, envVars, resources), validated by
the same model, so the service adopts the server as a notebook at its next sync.
Invalid input is a 400 whose message is the API's for the same input; the hub
shows it above the form.

A named server that already is a notebook (its options carry a notebookId)
starts again with the options it has, without the form: it keeps its id and spec.

**How the hub authenticates to the service.** With the API token of a hub service
made for this alone (``token_service_name``, ``submarine-spawn-form`` in
jupyterhub_config.py), whose one scope is ``access:services!service=submarine``.
Reading the environment catalogue needs nothing more; with that token nothing
else can be done, neither in the service (it is no admin, owns no notebooks and
may not change environments) nor on the hub. The service's own token (admin of
users and servers) would be far more than the form needs, and a token minted per
user would leave a token behind at every form.
"""

import json
import math
from itertools import zip_longest
from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from jupyterhub.utils import url_escape_path, url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Float, Unicode
from traitlets.config import LoggingConfigurable

from .ids import IdGenerator
from .kernelspec import KernelSpecPolicy
from .options import parse_options
from .resources import ResourceError, ResourcePolicy, format_bytes, parse_count, parse_cpu, parse_memory

TEMPLATE_DIR = str(Path(__file__).resolve().parent / "templates")
_templates = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True)

GPU = "nvidia.com/gpu"
# form field -> (resources key, the check of one value)
RESOURCE_FIELDS = {"cpu": ("cpu", parse_cpu), "memory": ("memory", parse_memory), "gpus": (GPU, parse_count)}

# seeded when the hub loads the spawner, before it starts the service (see ids.py)
notebook_ids = IdGenerator("notebook")


def form_error(message: str, status: int = 400) -> web.HTTPError:
    """An error the hub shows as it is: above the form (a POST) or on its error page (a GET)."""
    error = web.HTTPError(status, "%s", message)
    error.jupyterhub_message = message
    return error


def gpu_choice(policy: ResourcePolicy) -> int | None:
    """How many GPUs the form may offer: None for none at all, 0 for no cap."""
    if GPU not in policy.extended_resources:
        return None
    cap = policy.max_extended.get(GPU)
    if cap == 0:
        return None
    return cap or 0


def memory_hint(size: int) -> str:
    """A memory cap as people read it, rounded down so that it is within the cap: 23.5Gi."""
    if size >= 2**30:
        return f"{math.floor(size * 10 / 2**30) / 10:g}Gi"
    return f"{size // 2**20}Mi" if size >= 2**20 else format_bytes(size)


def render_form(environments: list[dict], policy: ResourcePolicy) -> str:
    """The form's HTML (the hub wraps it in its <form> with the Start button)."""
    return _templates.get_template("spawn_form.html").render(
        environments=environments,
        max_cpu=f"{policy.max_cpu:g}" if policy.max_cpu else None,
        max_memory=memory_hint(policy.max_memory) if policy.max_memory else None,
        gpus=gpu_choice(policy),
    )


def _first(form_data: dict[str, list[str]], name: str) -> str:
    return (form_data.get(name) or [""])[0].strip()


def environment_name(form_data: dict[str, list[str]]) -> str:
    name = _first(form_data, "environment")
    if not name:
        raise form_error("environment.name: is required")
    return name


def form_resources(form_data: dict[str, list[str]]) -> str:
    """The cpu, memory and gpus fields as a resources string (``cpu=1,memory=1.0Gi``).
    Each field is one quantity: a comma or ``=`` cannot smuggle in another entry."""
    entries = []
    for field, (key, check) in RESOURCE_FIELDS.items():
        value = _first(form_data, field)
        if not value or (key == GPU and value == "0"):
            continue
        entry = f"{key}={value}"
        try:
            check(value, entry)
        except ResourceError as e:
            raise form_error(f"spec.resources: {e}") from None
        entries.append(entry)
    return ",".join(entries)


def form_env_vars(form_data: dict[str, list[str]]) -> dict[str, str]:
    """The name/value rows; rows left empty are skipped."""
    env: dict[str, str] = {}
    for name, value in zip_longest(form_data.get("env_name", []), form_data.get("env_value", []), fillvalue=""):
        name = name.strip()
        if not name and not value:
            continue
        if name in env:
            raise form_error(f"spec.envVars: '{name}' is given more than once")
        env[name] = value
    return env


def notebook_options(form_data, environment: dict, namespace: str, policy: ResourcePolicy,
                     kernel_policy: KernelSpecPolicy | None = None) -> dict:
    """The seam ``user_options`` of a submitted form, checked by the seam model with the
    API's field names (``spec.resources``, ``spec.envVars``) in its messages."""
    options = {
        "notebookId": notebook_ids(),
        "namespace": namespace,
        "environment": environment,
        "envVars": form_env_vars(form_data),
        "resources": form_resources(form_data),
    }
    try:
        parse_options(options, policy, prefix="spec", kernel_policy=kernel_policy)
    except ValueError as e:
        raise form_error(str(e)) from None
    return options


class SubmarineSpawnForm(LoggingConfigurable):
    """The spawn form of one spawner (its parent), configured as ``c.SubmarineSpawnForm``."""

    service_name = Unicode(
        "submarine",
        help="The hub service (in c.JupyterHub.services) whose environment API lists the "
        "environments; the form asks it at its `url`, as the proxy does.",
    ).tag(config=True)

    token_service_name = Unicode(
        "submarine-spawn-form",
        help="The hub service whose api_token the form sends to the environment API. Give it "
        "only the scope access:services!service=<service_name> (a role): reading environments "
        "needs no more.",
    ).tag(config=True)

    request_timeout = Float(
        10, help="Seconds the form waits for the environment API before it says so."
    ).tag(config=True)

    def _service(self, name: str):
        service = (self.parent.user.settings.get("services") or {}).get(name)
        if service is None:
            raise form_error(f"The hub has no service named '{name}' (SubmarineSpawnForm settings)", 500)
        return service

    async def _api(self, path: str):
        """The result of ``GET <service>/api/v1/<path>``; the API's message as an error otherwise."""
        url = url_path_join(self._service(self.service_name).url, "api/v1", path)
        token = self._service(self.token_service_name).api_token
        request = HTTPRequest(url, headers={"Authorization": f"token {token}"},
                              request_timeout=self.request_timeout)
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        if response.code == 599:
            raise form_error(f"The Submarine service did not answer ({response.error}); try again", 503)
        try:
            body = json.loads(response.body)
            message = body["message"]
        except (TypeError, ValueError, KeyError):
            raise form_error(f"The Submarine service answered {response.code} without its envelope", 502) from None
        if response.code in (401, 403):
            raise form_error(f"The Submarine service refused the spawn form's token: {message}", 500)
        if 400 <= response.code < 500:
            raise form_error(message)
        if response.code != 200:
            raise form_error(f"The Submarine service failed: {message}", 503)
        return body["result"]

    async def render(self, spawner) -> str:
        """``Spawner.options_form``: the form, or "" for a notebook starting again."""
        if spawner.name and (spawner.user_options or {}).get("notebookId"):
            return ""
        environments = [item["environmentSpec"] for item in await self._api("environment")]
        return render_form(environments, spawner.resource_policy)

    async def user_options(self, form_data: dict[str, list[str]]) -> dict:
        """``Spawner.options_from_form`` (and ``options_from_query``): the seam user_options."""
        spawner = self.parent
        name = environment_name(form_data)
        environment = await self._api(f"environment/{url_escape_path(name)}")
        return notebook_options(form_data, environment["environmentSpec"], spawner.default_namespace(),
                                spawner.resource_policy, spawner.kernel_spec_policy)
