"""The one contract between the service and the spawners: a request in, an admitted spec out.

Every start of a server, whichever door it came through (the service's API, the spawn form,
the hub's REST API, the admin panel), is a request the service admits or refuses, the way
a Kubernetes admission webhook does:

* A client's ``user_options`` are a :class:`StartRequest`: an environment by *name*, a
  namespace, ``envVars`` and ``resources``. A client never chooses an image, a kernelSpec or
  a notebook id (what it sends of those is ignored).
* Before it makes anything, the spawner sends the request, with the owner and the server
  name, to the service (``POST /api/v1/spawner/admission``), which checks it against the
  environment catalogue, the namespace allow-list, the resource caps and the owner's quota,
  gives the notebook id, writes the notebook's row and answers an :class:`AdmittedSpec`.
  The spawner starts with exactly that.

This module holds both models, the rules of their fields, and the conversions between them
and a notebook's spec as the API shows it (``{"meta", "environment", "spec"}``). The service
imports it; nothing else re-states it.
"""

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from . import k8s, kernelspec
from .resources import ResourceError, ResourcePolicy, parse_memory

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names the hub, the spawners and the single-user server set themselves.
RESERVED_ENV_PREFIXES = ("JUPYTERHUB_", "JPY_", "SUBMARINE_")
RESERVED_ENV_NAMES = frozenset(
    {
        "MEM_LIMIT",
        "MEM_GUARANTEE",
        "CPU_LIMIT",
        "CPU_GUARANTEE",
        "JUPYTER_IMAGE",
        "JUPYTER_IMAGE_SPEC",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "PATH",
    }
)
MAX_ENV_VARS = 100
MAX_ENV_NAME = 128
MAX_ENV_VALUE = 32 * 1024

EnvironmentName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")]
Namespace = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
# A notebook's name (meta.name): its named server's name, or a stable slug of it (records.server_name)
NotebookName = Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
# Who may own notebooks: hub user names that every door, path, OS user and label can hold, as
# JupyterHub normalises them (lowercase). Look-alike, invisible and right-to-left characters
# are not in it.
OWNER_PATTERN = r"^[a-z0-9]([a-z0-9._@+-]{0,62}[a-z0-9])?$"
OwnerId = Annotated[str, StringConstraints(pattern=OWNER_PATTERN)]
# An image reference: no whitespace or control characters, a sane length.
ImageRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][\x21-\x7e]*$", max_length=512)]


def _not_a_directory_name(name: str) -> str:
    if name in (".", ".."):
        raise PydanticCustomError("kernel_name", "'{name}' is not a kernel name", {"name": name})
    return name


# a directory of the notebook's Jupyter path: never "." or ".."
KernelName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$", max_length=128), AfterValidator(_not_a_directory_name)
]


def _kernelspec_rule(check):
    """A kernelspec.py check, given the validation context, as a validator of one entry."""

    def validate(entry: str, info) -> str:
        try:
            return check(entry, info.context or {})
        except kernelspec.KernelSpecError as e:
            raise PydanticCustomError("kernel_spec", "{rule}", {"rule": str(e)}) from None

    return AfterValidator(validate)


Channel = Annotated[str, _kernelspec_rule(lambda entry, _: kernelspec.check_channel(entry))]
CondaSpec = Annotated[str, _kernelspec_rule(lambda entry, _: kernelspec.check_conda_spec(entry))]
# URLs (name @ https://...) only where the caller's context says the hub allows them
# (KernelSpecPolicy.context)
PipRequirement = Annotated[
    str,
    _kernelspec_rule(
        lambda entry, context: kernelspec.check_pip_requirement(entry, context.get("allow_pip_urls", False))
    ),
]


def check_env_vars(env: dict[str, str]) -> dict[str, str]:
    """Names must be identifiers and not ones the hub or spawner owns; values are data."""
    if len(env) > MAX_ENV_VARS:
        raise PydanticCustomError("env_count", f"at most {MAX_ENV_VARS} variables are allowed")
    for name, value in env.items():
        if len(name) > MAX_ENV_NAME:
            raise PydanticCustomError(
                "env_name",
                "the name '{name}...' is longer than {limit} characters",
                {"name": name[:40], "limit": MAX_ENV_NAME},
            )
        if not ENV_NAME.match(name):
            raise PydanticCustomError(
                "env_name",
                "'{name}' is not a valid variable name (letters, digits and _, not starting with a digit)",
                {"name": name},
            )
        if name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES):
            raise PydanticCustomError(
                "env_reserved", "'{name}' is reserved: the hub or the spawner sets it", {"name": name}
            )
        if "\x00" in value:
            raise PydanticCustomError("env_value", "the value of '{name}' contains a NUL character", {"name": name})
        if len(value) > MAX_ENV_VALUE:
            raise PydanticCustomError(
                "env_value",
                "the value of '{name}' is longer than {limit} characters",
                {"name": name, "limit": MAX_ENV_VALUE},
            )
    return env


def check_resources(text: str, info) -> str:
    """Parsed against the context's ResourcePolicy (its caps), or the defaults."""
    policy = (info.context or {}).get("policy") or ResourcePolicy()
    try:
        policy.parse(text)
    except ResourceError as e:
        raise PydanticCustomError("resources", str(e)) from None
    return text


EnvVars = Annotated[dict[str, str], AfterValidator(check_env_vars)]
ResourcesText = Annotated[str, StringConstraints(max_length=1024), AfterValidator(check_resources)]


class KernelSpec(BaseModel):
    """The kernel a notebook's environment provides; its entries become argv entries of
    ``conda install`` and ``pip install`` (see kernelspec.py)."""

    model_config = ConfigDict(extra="forbid")

    name: KernelName = "python3"
    channels: list[Channel] = []
    condaDependencies: list[CondaSpec] = []
    pipDependencies: list[PipRequirement] = []


LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_./]{0,251}[A-Za-z0-9])?$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]
# a Kubernetes object's name (a Secret's): a DNS-1123 subdomain
ObjectName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]
# a JupyterHub group's name: any text a person can read, on one line
GroupName = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,255}$")]


def _in_context(key: str, what: str):
    """A validator: the value is one of ``context[key]`` (when the context has that key)."""

    def validate(value: str, info) -> str:
        allowed = (info.context or {}).get(key)
        if allowed is not None and value not in allowed:
            raise PydanticCustomError(
                "unknown",
                "'{value}' is not one of this hub's {what} ({allowed})",
                {"value": value, "what": what, "allowed": ", ".join(sorted(allowed)) or "none"},
            )
        return value

    return AfterValidator(validate)


def _memory(text: str) -> str:
    try:
        parse_memory(text, "shmSize")
    except ResourceError as e:
        raise PydanticCustomError("quantity", str(e)) from None
    return text


def _kubernetes(kind: str):
    def validate(value, info):
        try:
            return k8s.check(kind, value)
        except ValueError as e:
            raise PydanticCustomError("kubernetes", "{rule}", {"rule": str(e)}) from None

    return AfterValidator(validate)


class Toleration(BaseModel):
    """A Kubernetes toleration (``kubectl explain pod.spec.tolerations``)."""

    model_config = ConfigDict(extra="forbid")

    key: LabelKey | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: StrictInt | None = Field(default=None, ge=0)


class PodSettings(BaseModel):
    """Where and how an environment's notebooks run on Kubernetes (recorded, and inert, locally)."""

    model_config = ConfigDict(extra="forbid")

    nodeSelector: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=32)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    affinity: Annotated[dict, _kubernetes("V1Affinity")] | None = None
    imagePullSecrets: list[ObjectName] = Field(default_factory=list, max_length=16)
    # a memory-backed /dev/shm of this size (PyTorch's data loaders need more than the 64M default)
    shmSize: Annotated[str, StringConstraints(max_length=32), AfterValidator(_memory)] | None = None
    # names of SubmarinePolicy.volumes: volumes an admin defined, e.g. a read-only dataset
    volumes: list[Annotated[str, _in_context("volumes", "volumes")]] = Field(default_factory=list, max_length=16)


def _within(limit_key: str):
    """An environment's timeout: at least ``context["min_timeout"]`` and at most
    ``context[limit_key]`` seconds (0: no bound), the admin's bounds."""

    def validate(seconds: int | None, info):
        context = info.context or {}
        least, most = context.get("min_timeout", 1), context.get(limit_key, 0)
        if seconds is not None and (seconds < least or (most and seconds > most)):
            bound = f"between {least} and {most}" if most else f"at least {least}"
            raise PydanticCustomError("timeout", "must be {bound} seconds on this hub", {"bound": bound})
        return seconds

    return AfterValidator(validate)


class EnvironmentSpec(BaseModel):
    """Submarine's EnvironmentSpec (an image plus a kernelSpec), and how platform teams govern
    it: who may use it, where its pods run, its lifecycle and its run-time policy."""

    model_config = ConfigDict(extra="forbid")

    name: EnvironmentName
    dockerImage: ImageRef
    kernelSpec: KernelSpec = KernelSpec()
    description: str | None = Field(default=None, max_length=4096)
    image: str | None = Field(default=None, max_length=512)
    # hub groups whose members may use it; empty: everyone
    groups: list[GroupName] = Field(default_factory=list, max_length=64)
    pod: PodSettings = Field(default_factory=PodSettings)
    # why new notebooks may not pick it; redirectTo: the environment its notebooks move to
    deprecated: str | None = Field(default=None, max_length=1024)
    redirectTo: EnvironmentName | None = None
    # seconds: stop a notebook idle (no activity, no busy kernel) this long, or running this long
    idleTimeout: Annotated[StrictInt | None, _within("max_idle_timeout")] = Field(default=None, gt=0)
    maxRuntime: Annotated[StrictInt | None, _within("max_runtime")] = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _not_to_itself(self):
        if self.redirectTo == self.name:
            raise PydanticCustomError("redirect", "redirectTo: an environment cannot redirect to itself")
        return self


class EnvironmentChoice(BaseModel):
    """An environment named by a client; the rest of what it sends (an image, a kernelSpec)
    is ignored: the catalogue says what an environment is."""

    name: EnvironmentName


class PodFields(BaseModel):
    """What a notebook's server gets besides its environment: the one list of these fields.
    The API's ``spec`` and a start's ``user_options`` ask for them, the service stores them in
    the notebook's spec, and :class:`AdmittedSpec` carries them to the spawners. A new field
    here (and, unchecked, in AdmittedSpec) reaches every door and the OpenAPI document; the
    spawners decide what it does."""

    envVars: EnvVars = Field(default_factory=dict)
    resources: ResourcesText = ""

    def pod(self) -> dict:
        """These fields, as a notebook's spec stores them."""
        return self.model_dump(include=set(PodFields.model_fields))


class StartRequest(PodFields):
    """What a client's ``user_options`` may ask of a start (the hub keeps them as sent)."""

    model_config = ConfigDict(extra="forbid")

    environment: EnvironmentChoice | None = None
    namespace: Namespace | None = None
    # the service writes its id on its notebooks' servers, for people reading the hub's API;
    # an id a client sends is never read
    notebookId: str | None = Field(default=None, max_length=64)


# a request's fields by the names the API gives them, so every door says the same of one mistake
REQUEST_FIELDS = {
    "environment": "environment",
    "namespace": "meta.namespace",
    **{name: f"spec.{name}" for name in PodFields.model_fields},
}


class Volume(BaseModel):
    """A volume an admin defined (SubmarinePolicy.volumes), as pods mount it."""

    name: str
    volume: dict  # a Kubernetes volume source, e.g. {"persistentVolumeClaim": {"claimName": "data"}}
    mountPath: str
    readOnly: bool = True


class AdmittedSpec(BaseModel):
    """What a server starts with, as the service admitted it. ``environment`` None: a plain
    server (the owner's default server, started without options)."""

    notebookId: str | None = None
    namespace: Namespace
    environment: EnvironmentSpec | None = None
    # PodFields as admitted: not checked again (the policy's bounds may have changed since)
    envVars: dict[str, str] = {}
    resources: str = ""
    # the environment's pod.volumes, as the admin defined them
    volumes: list[Volume] = []

    def user_options(self) -> dict:
        """The request the hub keeps for the server (shown on the home page, sent again by a
        start without options)."""
        if self.environment is None:
            return {}
        return {
            "notebookId": self.notebookId,
            "namespace": self.namespace,
            "environment": {"name": self.environment.name},
            **{name: getattr(self, name) for name in PodFields.model_fields},
        }


def notebook_spec(name: str, owner: str, namespace: str, environment: dict, pod: dict, labels=None) -> dict:
    """A notebook's spec as the API shows it: Submarine's NotebookSpec, its environment resolved."""
    meta = {"name": name, "namespace": namespace, "ownerId": owner}
    if labels:
        meta["labels"] = labels
    return {"meta": meta, "environment": environment, "spec": pod}


def admitted(notebook_id: str, spec: dict, volumes: dict | None = None) -> AdmittedSpec:
    """The spec a notebook's server starts with; ``volumes`` defines the ones its environment names."""
    pod = spec["spec"]
    environment = spec["environment"]
    names = (environment.get("pod") or {}).get("volumes", [])
    # stored specs were valid when made (pip URLs may have been allowed then, bounds wider)
    return AdmittedSpec.model_validate(
        {
            "notebookId": notebook_id,
            "namespace": spec["meta"]["namespace"],
            "environment": environment,
            **{name: pod[name] for name in PodFields.model_fields if name in pod},
            "volumes": [{"name": name, **(volumes or {})[name]} for name in names if name in (volumes or {})],
        },
        context={"allow_pip_urls": True},
    )


def explain(error: ValidationError, prefix: str = "", names: dict | None = None) -> str:
    """One line a person can act on: each problem as ``field.path: rule``, the path under
    ``prefix``, or under ``names[field]`` for the fields ``names`` has."""
    problems = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        parts = (names[loc[0]], *loc[1:]) if names and loc and loc[0] in names else (prefix, *loc)
        path = ".".join(str(part) for part in parts if part != "")
        message = item["msg"]
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "string_pattern_mismatch":
            message = f"{str(item['input'])[:80]!r} does not match {item['ctx']['pattern']}"
        problems.append(f"{path}: {message}" if path else message)
    return "; ".join(problems)
