"""Faults injected into the real service, deterministically.

A hub's extra config (``SUBMARINE_EXTRA_CONFIG``) that, in the service's process only, wraps
the service's own hub client: when ``faults.json`` in the data directory names a call, that
call kills the service (``os._exit``, as ``kill -9`` would) before or after it reaches the
hub, or answers as a failing hub would. Each fault fires once: its file is gone when it has,
so the service the hub restarts carries on undisturbed. ``freeze`` stops the hub (SIGSTOP)
just before the call reaches it, between the token check and the first step: the test
lets it go again (SIGCONT) once it has its answer. The hub, the proxy, the labs and
the database are all real.
"""

import json
from pathlib import Path

CONFIG = """
import sys
if "hub_service.hub.client" in sys.modules:  # the service, not the hub
    import functools, json, os, signal
    from pathlib import Path
    from hub_service.hub import client

    FAULTS = Path({faults!r})

    def fault(name):
        try:
            wanted = json.loads(FAULTS.read_text())
        except (OSError, ValueError):
            return None
        if wanted.get("call") != name:
            return None
        FAULTS.unlink()
        return wanted

    def wrap(name):
        original = getattr(client.HubClient, name)

        @functools.wraps(original)
        async def call(self, *args, **kwargs):
            wanted = fault(name)
            if wanted and wanted["when"] == "before":
                os._exit(9)
            if wanted and wanted["when"] == "freeze":
                os.kill(os.getppid(), signal.SIGSTOP)  # the hub, which started the service
            if wanted and wanted["when"] == "fail":
                raise client.HubError(wanted.get("code", 500), "an injected failure of the hub")
            try:
                return await original(self, *args, **kwargs)
            finally:
                if wanted and wanted["when"] == "after":
                    os._exit(9)

        setattr(client.HubClient, name, call)

    for name in ("ensure_user", "create_server", "start_server", "delete_server", "get_server"):
        wrap(name)
"""


def extra_config(data_dir: Path, settings: str = "") -> Path:
    """The extra config of a hub whose service takes faults from ``data_dir/faults.json``."""
    path = data_dir / "faults_config.py"
    path.write_text(settings + CONFIG.format(faults=str(data_dir / "faults.json")))
    return path


def inject(data_dir: Path, call: str, when: str, code: int = 500):
    """The next ``call`` of the service's hub client: kill the service ``before`` or ``after``
    it reaches the hub, ``freeze`` the hub just before, or ``fail`` it with the hub's ``code``."""
    (data_dir / "faults.json").write_text(json.dumps({"call": call, "when": when, "code": code}))


def pending(data_dir: Path) -> bool:
    """The fault has not fired yet."""
    return (data_dir / "faults.json").exists()
