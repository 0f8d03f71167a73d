"""Helpers the test modules share: the hub's other doors (its REST API, its login form),
the processes a hub runs, and a fresh PostgreSQL database."""

import os
import re
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from .harness import Api, Hub

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
