"""The notebook row: how one is made and how it is shown (Submarine's notebook result).
Pure translation."""

import uuid

from jupyterhub.slugs import is_valid_safe_slug, safe_slug
from jupyterhub.utils import url_escape_path

from .store.schema import utcnow


def server_name(name: str) -> str:
    """The hub's server name for a notebook name: itself when the hub allows it, else
    a stable slug (names over 30 characters, or with ``--``)."""
    return name if is_valid_safe_slug(name) else safe_slug(name)


def lab_url(base_url: str, owner: str, server: str) -> str:
    """The proxied JupyterLab path of a notebook."""
    return f"{base_url}user/{url_escape_path(owner)}/{server}/lab"


def new_row(
    notebook_id, owner, name, server, spec, revision, base_url, *, status, reason, pending, admitted, held=None
) -> dict:
    """A notebook the owner wants running: ``pending`` until the hub has started it (a create
    through the API, which the replica that made it carries out, leaving the leader's retries
    out until ``held``), ``admitted`` when its start is being admitted now (a start on the hub)."""
    return {
        "notebook_id": notebook_id,
        "uid": str(uuid.uuid4()),
        "owner": owner,
        "name": name,
        "server_name": server,
        "namespace": spec["meta"]["namespace"],
        "spec": spec,
        "url": lab_url(base_url, owner, server),
        "status": status,
        "reason": reason,
        "created_time": utcnow(),
        "deleted_time": None,
        "desired": "running",
        "pending": pending,
        "admitted": admitted,
        "attempts": 0,
        "retry_at": held,
        "environment_revision": revision,
    }


def isotime(value) -> str | None:
    return value.isoformat(timespec="milliseconds") if value else None


def notebook_result(row, pending_restart: str | None = None, shared_by: str | None = None) -> dict:
    """Submarine's notebook, and what a restart would change (why), and who shared it with the
    caller (None: the caller's own, or an admin's view)."""
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
        "pendingRestart": pending_restart is not None,
        "pendingRestartReason": pending_restart,
        "sharedBy": shared_by,
    }


def share_result(row) -> dict:
    return {row["kind"]: row["name"], "created": isotime(row["created"])}
