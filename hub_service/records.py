"""The notebook row: how one is made (from a request, or from a server made on the
hub's home page) and how it is shown (Submarine's notebook result). Pure translation."""

import uuid

from jupyterhub.slugs import is_valid_safe_slug, safe_slug
from jupyterhub.utils import url_escape_path
from pydantic import ValidationError

from submarine_spawner.options import NotebookOptions
from submarine_spawner.resources import ResourcePolicy

from . import statuses
from .db import utcnow


def server_name(name: str) -> str:
    """The hub's server name for a notebook name: itself when the hub allows it, else
    a stable slug (names over 30 characters, or with ``--``)."""
    return name if is_valid_safe_slug(name) else safe_slug(name)


def lab_url(base_url: str, owner: str, server: str) -> str:
    """The proxied JupyterLab path of a notebook."""
    return f"{base_url}user/{url_escape_path(owner)}/{server}/lab"


def new_row(notebook_id, owner, name, server, namespace, spec, base_url, status, reason, on_hub) -> dict:
    return {
        "notebook_id": notebook_id, "uid": str(uuid.uuid4()), "owner": owner, "name": name,
        "server_name": server, "namespace": namespace, "spec": spec, "url": lab_url(base_url, owner, server),
        "status": status, "reason": reason, "created_time": utcnow(), "deleted_time": None, "on_hub": on_hub,
    }


def row_for_server(owner: str, server: str, model: dict, base_url: str, extended_resources) -> dict | None:
    """A notebook for a named server the hub has and the service does not (made from the
    home page's form): None unless its user_options are the seam's."""
    # caps may have changed since it started: check the shape, not today's limits (nor
    # today's KernelSpecPolicy: the spawner took these options)
    policy = ResourcePolicy(extended_resources=list(extended_resources))
    context = {"policy": policy, "allow_pip_urls": True}
    try:
        options = NotebookOptions.model_validate(model.get("user_options") or {}, context=context)
    except ValidationError:
        return None
    display = model.get("display_name") or server
    name = display if server_name(display) == server else server
    spec = {
        "meta": {"name": name, "namespace": options.namespace, "ownerId": owner},
        "environment": options.environment.model_dump(),
        "spec": {"envVars": options.envVars, "resources": options.resources},
    }
    status, reason = statuses.from_server(model, statuses.CREATING) or (
        statuses.CREATING, statuses.REASONS[statuses.CREATING])
    return new_row(options.notebookId, owner, name, server, options.namespace, spec, base_url, status, reason,
                   on_hub=True)


def isotime(value) -> str | None:
    return value.isoformat(timespec="milliseconds") if value else None


def notebook_result(row) -> dict:
    return {
        "notebookId": row["notebook_id"],
        "name": row["name"],
        "uid": row["uid"],
        "url": row["url"],
        "status": row["status"],
        "reason": row["reason"],
        "createdTime": isotime(row["created_time"]),
        "deletedTime": isotime(row["deleted_time"]),
        "spec": row["spec"],
    }
