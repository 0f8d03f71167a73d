"""The hub home page's spawn form: a notebook from the browser.

:func:`options_form` is both spawners' ``options_form``: it lists the environments from
the Submarine service's environment API (over HTTP, through :class:`SubmarineServiceClient`:
this package never imports the service) and offers cpu, memory, GPUs (only where
``ResourcePolicy`` allows them and caps them above 0) and environment variables.
:func:`options_from_form` is their ``options_from_form``: the form's fields as a start
request (``contract.StartRequest``: the environment by name, envVars, resources), which the
service's admission checks like any other start. A refusal is a 400 whose message is the
API's for the same input; the hub shows it above the form.

A named server that already is a notebook (its options carry a notebookId) starts again as
the notebook it is, without the form.
"""

import math
from itertools import zip_longest
from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from tornado.escape import url_escape

from .resources import ResourceError, ResourcePolicy, format_bytes, parse_count, parse_cpu, parse_memory
from .service import refusal

TEMPLATE_DIR = str(Path(__file__).resolve().parent / "templates")
_templates = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True)

GPU = "nvidia.com/gpu"
# form field -> (resources key, the check of one value)
RESOURCE_FIELDS = {"cpu": ("cpu", parse_cpu), "memory": ("memory", parse_memory), "gpus": (GPU, parse_count)}


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


def gpu(environment: dict) -> bool:
    """Whether an environment is for GPUs: it says so in its name or image, or its pods go to GPU
    nodes (a node selector or toleration naming GPUs)."""
    pod = environment.get("pod") or {}
    keys = [*pod.get("nodeSelector", {}), *(toleration.get("key") or "" for toleration in pod.get("tolerations", []))]
    return any("gpu" in text.lower() for text in [environment["name"], environment["dockerImage"], *keys])


def render_form(environments: list[dict], policy: ResourcePolicy) -> str:
    """The form's HTML (the hub wraps it in its <form> with the Start button): the environments
    (the deprecated ones shown, not offered) and what each is."""
    usable = sorted(environments, key=lambda environment: bool(environment.get("deprecated")))
    return _templates.get_template("spawn_form.html").render(
        environments=usable,
        gpu=gpu,
        max_cpu=f"{policy.max_cpu:g}" if policy.max_cpu else None,
        max_memory=memory_hint(policy.max_memory) if policy.max_memory else None,
        gpus=gpu_choice(policy),
    )


def _first(form_data: dict[str, list[str]], name: str) -> str:
    return (form_data.get(name) or [""])[0].strip()


def environment_name(form_data: dict[str, list[str]]) -> str:
    name = _first(form_data, "environment")
    if not name:
        raise refusal("environment.name: is required")
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
            raise refusal(f"spec.resources: {e}") from None
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
            raise refusal(f"spec.envVars: '{name}' is given more than once")
        env[name] = value
    return env


async def options_form(spawner) -> str:
    """``Spawner.options_form``: the form, or "" for a notebook starting again."""
    if spawner.name and (spawner.user_options or {}).get("notebookId"):
        return ""
    path = f"environment?user={url_escape(spawner.user.name)}"  # the ones this user may use
    listed = await spawner.service.call(spawner.user.settings, "GET", path)
    return render_form([item["environmentSpec"] for item in listed], spawner.policy.resources)


def options_from_form(form_data: dict[str, list[str]]) -> dict:
    """``Spawner.options_from_form`` (and ``options_from_query``): a start request."""
    return {
        "environment": {"name": environment_name(form_data)},
        "envVars": form_env_vars(form_data),
        "resources": form_resources(form_data),
    }
