"""Helpers the test modules share: notebooks made (and removed when a test ends), the hub's
other doors (its REST API, its login form), the processes a hub runs, a fresh PostgreSQL
database."""

import os
import re
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from .harness import Api, Hub, notebook_body

POSTGRES = "postgresql://postgres@127.0.0.1:5432"

# the seeded notebook-env, as the catalogue gives it
ENVIRONMENT = {
    "name": "notebook-env",
    "dockerImage": "apache/submarine:jupyter-notebook-0.8.0",
    "kernelSpec": {
        "name": "submarine_jupyter_py3",
        "channels": ["defaults"],
        "condaDependencies": [],
        "pipDependencies": [],
    },
    "description": None,
    "image": None,
}


def create(api: Api, name: str, **fields) -> dict:
    """Create the notebook ``notebook_body(name, **fields)`` as ``api``'s user; assert 200; its result."""
    code, body = api.call("POST", "/api/v1/notebook", notebook_body(name, **fields))
    assert code == 200, body
    return body["result"]


def create_running(hub: Hub, api: Api, name: str, **fields) -> dict:
    """Create a notebook as ``create`` does and wait until it runs; the running notebook."""
    return hub.wait_status(api, create(api, name, **fields)["notebookId"], "running")


class Notebooks:
    """The notebooks a test makes, deleted when it ends, whether it passed or failed (the
    ``notebooks`` fixture): nothing a test leaves keeps running on a hub later tests share."""

    def __init__(self):
        self._ids: list[tuple[Api, str]] = []
        self._owners: list[tuple[Api, str]] = []

    def track(self, api: Api, notebook_id: str) -> str:
        """Delete this notebook at the end, as ``api``'s user."""
        self._ids.append((api, notebook_id))
        return notebook_id

    def track_owner(self, api: Api, owner: str):
        """Delete every notebook of ``owner`` at the end, as ``api``'s user, however it was made
        (the hub's door, its spawn form, a race of creates)."""
        self._owners.append((api, owner))

    def create(self, api: Api, name: str, **fields) -> dict:
        """``create``, tracked."""
        notebook = create(api, name, **fields)
        self.track(api, notebook["notebookId"])
        return notebook

    def create_running(self, hub: Hub, api: Api, name: str, **fields) -> dict:
        """``create_running``, tracked."""
        return hub.wait_status(api, self.create(api, name, **fields)["notebookId"], "running")

    def delete_all(self):
        """Delete what is left (a notebook the test deleted itself answers 404). A hub that is
        gone has nothing left to delete; any other answer fails the test's teardown."""
        left, refused = list(self._ids), []
        for api, owner in self._owners:
            try:
                code, body = api.call("GET", f"/api/v1/notebook?id={owner}&limit=1000")
            except requests.RequestException:
                continue
            if code != 200:
                refused.append((f"the notebooks of {owner}", code, body.get("message")))
                continue
            left += [(api, notebook["notebookId"]) for notebook in body["result"]]
        deleted = set()
        for api, notebook_id in reversed(left):
            if notebook_id in deleted:
                continue
            deleted.add(notebook_id)
            try:
                code, body = api.call("DELETE", f"/api/v1/notebook/{notebook_id}")
            except requests.RequestException:
                continue
            if code not in (200, 202, 404):
                refused.append((notebook_id, code, body.get("message")))
        assert not refused, f"notebooks left behind: {refused}"


def token_of(api: Api) -> str:
    """The token ``api`` sends."""
    return api.headers["Authorization"].split()[1]


def hub_start(hub, owner, token, server, options):
    """A start at the hub's own REST API, as the owner: (status, message)."""
    response = requests.post(
        f"{hub.public}/hub/api/users/{owner}/servers/{server}",
        json={"user_options": options},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    return response.status_code, response.json().get("message", "") if response.content else ""


def login(hub, name, password) -> requests.Session:
    """Log in through the hub's form, as a browser does."""
    browser = requests.Session()
    page = browser.get(hub.public + "/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    response = browser.post(
        hub.public + "/hub/login", data={"username": name, "password": password, "_xsrf": xsrf}, timeout=30
    )
    assert response.status_code == 200, response.text[:500]
    return browser


def lab_processes(owner: str) -> list[int]:
    """Pids of single-user servers of ``owner``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if f"JUPYTERHUB_USER={owner}".encode() in environ:
            found.append(int(entry))
    return found


def service_pid(hub: Hub) -> int | None:
    """The pid of the hub's Submarine service, or None while it is not running."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"hub_service" in cmdline and f"SUBMARINE_DATA_DIR={hub.data_dir}".encode() in environ:
            return int(entry.name)
    return None


@contextmanager
def postgres_database():
    """A fresh PostgreSQL database on the machine's server, dropped afterwards."""
    import psycopg

    name = f"submarine_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
