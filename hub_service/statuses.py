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
# holding what it asked for: counted by the resource quotas
ACTIVE = STARTING | {RUNNING}
ALL_BUT_FAILED = frozenset(ALL) - {FAILED}

REASONS = {
    CREATING: "The notebook instance is creating",
    RUNNING: "The notebook instance is running",
    STOPPED: "The notebook instance is stopped",
    TERMINATING: "The notebook instance is terminating",
}
STARTING_REASON = "The notebook instance is starting"
STOPPING_REASON = "The notebook instance is stopping"


# Kubernetes Events (reason) of a starting pod, as kubespawner's progress passes them on
PULLING_EVENTS = frozenset({"Pulling"})
WAITING_EVENTS = frozenset({"Scheduled", "Pulled", "Created", "Started"})
FAILED_EVENTS = frozenset({"BackOff", "ErrImagePull", "ImagePullBackOff", "Failed"})


def from_kube_event(event: dict, current: str):
    """A Kubernetes Event of the notebook's pod (kubespawner's ``raw_event``).

    Normal progress says only its reason (``Scheduled``, ``Pulling``), as Submarine
    does; problems say their message too, which is what a person can act on.
    """
    reason = event.get("reason") or "Unknown"
    message = (event.get("message") or "").strip()
    detailed = f"{reason}: {message}" if message else reason
    if reason in PULLING_EVENTS:
        return PULLING, reason
    if reason in FAILED_EVENTS:
        return FAILED, detailed
    if reason == "FailedScheduling":
        return WAITING, detailed
    if reason in WAITING_EVENTS:
        return WAITING, reason
    # anything else (volume attached, a mount retried): news, not a new status
    return current, detailed if event.get("type") == "Warning" else reason


def from_progress(event: dict, current: str):
    """A spawn progress event: ready, failed, a pod's Kubernetes Event, or a message
    that becomes the reason. A notebook being stopped or deleted, or stopped, takes none:
    they are the end of a spawn its stop interrupted (JupyterHub ends that progress with
    "ready", as its spawner has a server from the spawn's start; or "Spawn cancelled"),
    and a new start is admitted, which makes it creating, before its spawn begins."""
    if current in (TERMINATING, STOPPED):
        return None
    if event.get("ready"):
        return RUNNING, REASONS[RUNNING]
    if event.get("failed"):
        return FAILED, event.get("message") or "Spawn failed"
    if event.get("progress") == 0 and event.get("message"):
        # the hub's first event of every start ("Server requested"), a restart's too
        return CREATING, event["message"]
    if current not in STARTING:
        return None
    if event.get("raw_event"):
        return from_kube_event(event["raw_event"], current)
    message = event.get("message")
    return (current, message) if message else None


def from_server(server: dict, current: str, stopped_reason: str = REASONS[STOPPED]):
    """The hub's model of an existing named server; ``stopped_reason`` says why a
    server that ended without a crash is stopped (e.g. the idle culler)."""
    if server.get("ready"):
        return (RUNNING, REASONS[RUNNING]) if current != RUNNING else None
    pending = server.get("pending")
    if pending in ("spawn", "check"):
        # a start that failed while the hub still waits stays failed; a new start says
        # "Server requested" first (see from_progress)
        return None if current in STARTING or current == FAILED else (CREATING, REASONS[CREATING])
    if pending == "stop":
        return (TERMINATING, STOPPING_REASON) if current != TERMINATING else None
    if current == FAILED:
        return None
    last_exit = (server.get("state") or {}).get("last_exit")
    if last_exit:
        return FAILED, f"The notebook server exited unexpectedly ({last_exit.get('message')})"
    return (STOPPED, stopped_reason) if current != STOPPED else None
