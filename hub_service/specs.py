"""What clients send: Submarine's NotebookSpec and EnvironmentSpec, validated.

The environment, env-var and resource rules are the contract's (``submarine_spawner.contract``);
this module adds only what the API alone sees: meta, labels, and the optional
``cpu``/``memory``/``gpu`` fields some clients send beside ``resources``.
"""

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from submarine_spawner.contract import (
    OWNER_PATTERN,
    EnvironmentChoice,
    EnvironmentName,
    EnvironmentSpec,
    GroupName,
    LabelKey,
    LabelValue,
    Namespace,
    NotebookName,
    OwnerId,
    PodFields,
    check_resources,
    explain,
)

from .errors import ApiError

# the optional per-resource fields and the key each stands for in ``resources``
RESOURCE_FIELDS = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia.com/gpu"}


class NotebookMeta(BaseModel):
    name: NotebookName
    namespace: Namespace | None = None
    ownerId: OwnerId | None = None
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)


class NotebookPodSpec(PodFields):
    cpu: str | None = Field(default=None, max_length=64)
    memory: str | None = Field(default=None, max_length=64)
    gpu: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _merge_resource_fields(self, info):
        """Fold cpu/memory/gpu into ``resources``; a field that disagrees is an error."""
        fields = {field: getattr(self, field).strip() for field in RESOURCE_FIELDS if getattr(self, field) is not None}
        if not fields:
            return self
        pairs = {
            key.strip(): value.strip()
            for key, _, value in (item.partition("=") for item in self.resources.split(",") if item.strip())
        }
        for field, value in fields.items():
            key = RESOURCE_FIELDS[field]
            if pairs.setdefault(key, value) != value:
                raise PydanticCustomError(
                    "resources_conflict",
                    "{field} '{value}' disagrees with {key}={given} in resources",
                    {"field": field, "value": value, "key": key, "given": pairs[key]},
                )
        self.resources = check_resources(",".join(f"{k}={v}" for k, v in pairs.items()), info)
        return self


class NotebookRequest(BaseModel):
    meta: NotebookMeta
    environment: EnvironmentChoice
    spec: NotebookPodSpec = Field(default_factory=NotebookPodSpec)


class PodSpecPatch(PodFields):
    model_config = ConfigDict(extra="forbid")


class NotebookPatch(BaseModel):
    """PATCH /notebook/{id} of a stopped notebook: a new environment, envVars or resources."""

    model_config = ConfigDict(extra="forbid")

    environment: EnvironmentChoice | None = None
    spec: PodSpecPatch | None = None


class EnvironmentPatch(BaseModel):
    """PATCH /environment/{name}: the fields to replace (the result is checked as a whole)."""

    model_config = ConfigDict(extra="forbid")

    name: EnvironmentName | None = None
    dockerImage: Any = None
    kernelSpec: Any = None
    description: Any = None
    image: Any = None
    groups: Any = None
    pod: Any = None
    deprecated: Any = None
    redirectTo: Any = None
    idleTimeout: Any = None
    maxRuntime: Any = None


class ShareRequest(BaseModel):
    """POST /notebook/{id}/shares: a user or a group."""

    model_config = ConfigDict(extra="forbid")

    user: OwnerId | None = None
    group: GroupName | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.user is None) == (self.group is None):
            raise PydanticCustomError("share", "give exactly one of user and group")
        return self

    def kind_and_name(self) -> tuple[str, str]:
        return ("user", self.user) if self.user else ("group", self.group)


def validate_owner(owner: str):
    """A hub user who may own notebooks: a name every door, path and label can hold."""
    if not re.fullmatch(OWNER_PATTERN, owner):
        raise ApiError(
            400,
            f"meta.ownerId: '{owner[:80]}' cannot own notebooks: owner ids must match "
            f"{OWNER_PATTERN} (JupyterHub user names in lowercase ASCII)",
        )


def validate(model, data, context=None, prefix="", names=None):
    """Validate request data; a 400 ApiError naming each field (see ``explain``) and rule
    otherwise. ``context``: the hub's (``SubmarinePolicy.context``), or the defaults'."""
    if not isinstance(data, dict):
        raise ApiError(400, f"{prefix or 'The request body'} must be a JSON object")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as e:
        raise ApiError(400, explain(e, prefix, names)) from None


__all__ = ["EnvironmentSpec", "EnvironmentPatch", "NotebookRequest", "validate"]
