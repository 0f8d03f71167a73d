"""A real JupyterHub (with its proxy and the Submarine service) for the tests.

Started from the project's own ``jupyterhub_config.py`` as ``make run`` does,
on free ports of 127.0.0.1 and a data directory of its own; tests talk to it
over HTTP as users do.
"""

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "test-admin-token-" + "0" * 24
NOTEBOOK_USER_PREFIX = "nb-"  # SubmarineLocalSpawner.system_user_prefix


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api(requests.Session):
    """A client of one base URL with one token; ``.call`` returns (code, envelope)."""

    def __init__(self, base: str, token: str | None = None):
        super().__init__()
        self.base = base.rstrip("/")
        if token:
            self.headers["Authorization"] = f"token {token}"

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 60)
        return super().request(method, self.base + url, *args, **kwargs)

    def call(self, method, url, body=None, **kwargs):
        if body is not None:
            kwargs["json"] = body
        response = self.request(method, url, **kwargs)
        return response.status_code, response.json()


def wait_for(predicate, timeout=60.0, interval=0.1, what="condition"):
    """Poll until ``predicate()`` is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def open_way_to(path: Path):
    """Let other OS users pass through the temporary directories above ``path``: as root, the
    hub runs notebooks as unprivileged users, who must reach their workspaces in it."""
    top = Path(tempfile.gettempdir()).resolve()
    for directory in [path, *path.parents]:
        if directory == top or top not in directory.parents:
            break
        directory.chmod(directory.stat().st_mode | 0o011)


def notebook_users(within: Path) -> set[str]:
    """The OS users notebooks run as (the hub makes them when it runs as root) whose home is in
    ``within``."""
    within = Path(within).resolve()
    return {
        user.pw_name
        for user in pwd.getpwall()
        if user.pw_name.startswith(NOTEBOOK_USER_PREFIX) and within in Path(user.pw_dir).parents
    }


class Hub:
    def __init__(self, data_dir: Path, config: Path = ROOT / "jupyterhub_config.py", **env):
        self.data_dir = Path(data_dir).resolve()
        self.config = config
        self.port, self.hub_port, self.proxy_api_port, self.service_port = (free_port() for _ in range(4))
        self.env = {
            **os.environ,
            "SUBMARINE_DATA_DIR": str(self.data_dir),
            "SUBMARINE_PORT": str(self.port),
            "SUBMARINE_HUB_PORT": str(self.hub_port),
            "SUBMARINE_PROXY_API_PORT": str(self.proxy_api_port),
            "SUBMARINE_SERVICE_PORT": str(self.service_port),
            "SUBMARINE_ADMIN_TOKEN": ADMIN_TOKEN,
            "SUBMARINE_USER_PASSWORD": "user-password",
            "SUBMARINE_SYNC_INTERVAL": "0.5",
            **env,
        }
        self.proc = None
        self.log_path = self.data_dir / "hub.log"
        self.public = f"http://127.0.0.1:{self.port}"
        self.direct = f"http://127.0.0.1:{self.service_port}"
        self.admin = Api(self.direct, ADMIN_TOKEN)
        self.hub_api = Api(self.public + "/hub/api", ADMIN_TOKEN)

    def start(self):
        self.launch()
        self.wait_ready()
        return self

    def launch(self):
        """Start the hub's process, without waiting for it to answer."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        open_way_to(self.data_dir)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.config)],
            cwd=self.data_dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def _answers(self, base):
        try:
            return Api(base, ADMIN_TOKEN).get("/api/v1/notebook/ping", timeout=2).status_code == 200
        except requests.RequestException:
            if self.proc.poll() is not None:
                raise AssertionError(f"the hub exited; its log:\n{self.log_tail()}") from None
            return False

    def wait_ready(self, timeout=90):
        wait_for(
            lambda: self._answers(self.direct) and self._answers(self.public + "/services/submarine"),
            timeout,
            0.2,
            "the hub and the Submarine service",
        )

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def log_tail(self, lines=80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- users and tokens -------------------------------------------------------------

    def user_token(self, name: str, scopes=None) -> str:
        """Create the hub user if needed and return a new API token of theirs."""
        self.hub_api.post(f"/users/{name}")
        body = {"note": "test"} if scopes is None else {"note": "test", "scopes": scopes}
        response = self.hub_api.post(f"/users/{name}/tokens", json=body)
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def client(self, name: str, **kwargs) -> Api:
        return Api(self.direct, self.user_token(name, **kwargs))

    def hub_user(self, name: str):
        response = self.hub_api.get(f"/users/{name}?include_stopped_servers=1")
        return response.json() if response.status_code == 200 else None

    # --- notebooks ----------------------------------------------------------------------

    def wait_status(self, api: Api, notebook_id: str, *statuses, timeout=120):
        def current():
            code, body = api.call("GET", f"/api/v1/notebook/{notebook_id}")
            assert code == 200, body
            notebook = body["result"]
            assert notebook["status"] != "failed" or "failed" in statuses, notebook["reason"]
            return notebook if notebook["status"] in statuses else None

        return wait_for(current, timeout, 0.1, f"{notebook_id} to be {' or '.join(statuses)}")

    def lab_pid(self, owner: str, server: str) -> int:
        """The pid of a notebook's single-user server, found by its environment."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                f"JUPYTERHUB_USER={owner}".encode() in environ
                and f"JUPYTERHUB_SERVER_NAME={server}".encode() in environ
            ):
                return int(entry.name)
        raise LookupError(f"no server process for {owner}/{server}")


def notebook_body(name, owner=None, environment="notebook-env", env_vars=None, resources="cpu=1,memory=1.0Gi", **meta):
    body = {
        "meta": {"name": name, "namespace": "default", **meta},
        "environment": {"name": environment},
        "spec": {"envVars": env_vars if env_vars is not None else {"TEST_ENV": "test"}, "resources": resources},
    }
    if owner:
        body["meta"]["ownerId"] = owner
    return body


def dump(body) -> str:
    return json.dumps(body, indent=1)
