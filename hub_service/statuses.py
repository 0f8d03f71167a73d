"""Notebook statuses, and how the hub's server models and progress events map to them.

Pure translation: each function takes what the hub said and the notebook's current
status, and returns the new ``(status, reason)``, or None for "leave it as it is".
"""

CREATING = "creating"
PULLING = "pulling"
WAITING = "waiting"
RUNNING = "running"
STOPPED = "stopped"
TERMINATING = "terminating"
FAILED = "failed"
NOT_FOUND = "not_found"

ALL = (CREATING, PULLING, WAITING, RUNNING, STOPPED, TERMINATING, FAILED, NOT_FOUND)
STARTING = frozenset({CREATING, PULLING, WAITING})

REASONS = {
    CREATING: "The notebook instance is creating",
    RUNNING: "The notebook instance is running",
    STOPPED: "The notebook instance is stopped",
    TERMINATING: "The notebook instance is terminating",
}


def from_progress(event: dict, current: str):
    """A spawn progress event: ready, failed, or a message that becomes the reason."""
    if event.get("ready"):
        return RUNNING, REASONS[RUNNING]
    if event.get("failed"):
        return FAILED, event.get("message") or "Spawn failed"
    message = event.get("message")
    if message and current in STARTING:
        return current, message
    return None


def from_server(server: dict, current: str):
    """The hub's model of an existing named server."""
    if server.get("ready"):
        return (RUNNING, REASONS[RUNNING]) if current != RUNNING else None
    pending = server.get("pending")
    if pending in ("spawn", "check"):
        return None if current in STARTING else (CREATING, REASONS[CREATING])
    if pending == "stop":
        return (TERMINATING, "The notebook instance is stopping") if current != TERMINATING else None
    if current == FAILED:
        return None
    last_exit = (server.get("state") or {}).get("last_exit")
    if last_exit:
        return FAILED, f"The notebook server exited unexpectedly ({last_exit.get('message')})"
    return (STOPPED, REASONS[STOPPED]) if current != STOPPED else None
