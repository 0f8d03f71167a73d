"""The one seam between the service and the spawners: a notebook's ``user_options``.

The service resolves the environment and starts a named server with exactly
:class:`NotebookOptions`; the home-page form produces the same dict. Both
spawners validate it again here, so a server started without the service gets
the same rules and the same messages.
"""

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator,
)
from pydantic_core import PydanticCustomError

from . import kernelspec
from .resources import ResourceError, ResourcePolicy

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names the hub, the spawners and the single-user server set themselves.
RESERVED_ENV_PREFIXES = ("JUPYTERHUB_", "JPY_", "SUBMARINE_")
RESERVED_ENV_NAMES = frozenset(
    {"MEM_LIMIT", "MEM_GUARANTEE", "CPU_LIMIT", "CPU_GUARANTEE", "JUPYTER_IMAGE",
     "JUPYTER_IMAGE_SPEC", "HOME", "USER", "PATH"}
)
MAX_ENV_VARS = 100
MAX_ENV_VALUE = 32 * 1024

EnvironmentName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
]
KernelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$", max_length=128)]
# An image reference: no whitespace or control characters, a sane length.
ImageRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][\x21-\x7e]*$", max_length=512)]


def _default_policy(info) -> ResourcePolicy:
    context = info.context or {}
    return context.get("policy") or ResourcePolicy()


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
PipRequirement = Annotated[str, _kernelspec_rule(
    lambda entry, context: kernelspec.check_pip_requirement(entry, context.get("allow_pip_urls", False))
)]


class KernelSpec(BaseModel):
    """The kernel a notebook's environment provides; its entries become argv entries of
    ``conda install`` and ``pip install`` (see kernelspec.py)."""

    model_config = ConfigDict(extra="forbid")

    name: KernelName = "python3"
    channels: list[Channel] = []
    condaDependencies: list[CondaSpec] = []
    pipDependencies: list[PipRequirement] = []


class EnvironmentSpec(BaseModel):
    """Submarine's EnvironmentSpec: an image plus a kernelSpec."""

    model_config = ConfigDict(extra="forbid")

    name: EnvironmentName
    dockerImage: ImageRef
    kernelSpec: KernelSpec = KernelSpec()
    description: str | None = Field(default=None, max_length=4096)
    image: str | None = Field(default=None, max_length=512)


def check_env_vars(env: dict[str, str]) -> dict[str, str]:
    """Names must be identifiers and not ones the hub or spawner owns; values are data."""
    if len(env) > MAX_ENV_VARS:
        raise PydanticCustomError("env_count", f"at most {MAX_ENV_VARS} variables are allowed")
    for name, value in env.items():
        if not ENV_NAME.match(name):
            raise PydanticCustomError(
                "env_name", "'{name}' is not a valid variable name (letters, digits and _, "
                "not starting with a digit)", {"name": name})
        if name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES):
            raise PydanticCustomError(
                "env_reserved", "'{name}' is reserved: the hub or the spawner sets it",
                {"name": name})
        if "\x00" in value:
            raise PydanticCustomError(
                "env_value", "the value of '{name}' contains a NUL character", {"name": name})
        if len(value) > MAX_ENV_VALUE:
            raise PydanticCustomError(
                "env_value", "the value of '{name}' is longer than {limit} characters",
                {"name": name, "limit": MAX_ENV_VALUE})
    return env


def check_resources(text: str, info) -> str:
    try:
        _default_policy(info).parse(text)
    except ResourceError as e:
        raise PydanticCustomError("resources", str(e)) from None
    return text


class NotebookOptions(BaseModel):
    """``user_options`` of a notebook's named server."""

    model_config = ConfigDict(extra="forbid")

    notebookId: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    environment: EnvironmentSpec
    envVars: dict[str, str] = {}
    resources: str = Field(default="", max_length=1024)

    @field_validator("envVars")
    @classmethod
    def _env_vars(cls, value):
        return check_env_vars(value)

    @field_validator("resources")
    @classmethod
    def _resources_text(cls, value, info):
        return check_resources(value, info)


def explain(error: ValidationError, prefix: str = "") -> str:
    """One line a person can act on: each problem as ``field.path: rule``."""
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        message = item["msg"]
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            message = "is not a known field"
        elif item["type"] == "string_pattern_mismatch":
            message = f"{str(item['input'])[:80]!r} does not match {item['ctx']['pattern']}"
        problems.append(f"{path}: {message}" if path else message)
    return "; ".join(problems)


def parse_options(user_options: dict[str, Any], policy: ResourcePolicy | None = None,
                  prefix: str = "user_options",
                  kernel_policy: kernelspec.KernelSpecPolicy | None = None) -> NotebookOptions:
    """Validate ``user_options``; raises :class:`ValueError` with :func:`explain`'s message,
    its fields named under ``prefix``."""
    context = {"policy": policy, **(kernel_policy.context if kernel_policy else {})}
    try:
        return NotebookOptions.model_validate(user_options, context=context)
    except ValidationError as e:
        raise ValueError(explain(e, prefix)) from None
