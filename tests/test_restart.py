"""Restarting the service or the hub loses no notebook, and statuses come back right."""

import os
import signal

import pytest
import requests

from .harness import Hub, wait_for
from .helpers import create, service_pid


@pytest.fixture
def own_hub(tmp_path, request):
    hub = Hub(tmp_path, **getattr(request, "param", {})).start()
    yield hub
    hub.stop()


def make_notebooks(hub):
    api = hub.client("rita")
    ids = {}
    for name in ("keeps-running", "was-stopped"):
        ids[name] = create(api, name, resources="")["notebookId"]
    for notebook_id in ids.values():
        hub.wait_status(api, notebook_id, "running")
    assert hub.hub_api.delete("/users/rita/servers/was-stopped").status_code in (202, 204)
    hub.wait_status(api, ids["was-stopped"], "stopped")
    return api, ids


def test_service_restart(own_hub):
    hub = own_hub
    api, ids = make_notebooks(hub)
    before = {i: api.call("GET", f"/api/v1/notebook/{i}")[1]["result"] for i in ids.values()}
    pid = service_pid(hub)
    assert pid
    os.kill(pid, signal.SIGKILL)  # the hub restarts a managed service that dies
    wait_for(lambda: service_pid(hub) not in (None, pid), 90, 0.5, "the hub to restart the service")
    hub.wait_ready()
    for notebook_id, old in before.items():
        code, body = api.call("GET", f"/api/v1/notebook/{notebook_id}")
        assert code == 200 and body["result"] == old
    # new ids stay unique after the restart
    assert create(api, "after-restart", resources="")["notebookId"] not in ids.values()


@pytest.mark.parametrize("own_hub", [{"SUBMARINE_KEEP_SERVERS": "1"}], indirect=True)
def test_hub_restart_keeping_servers(own_hub):
    hub = own_hub
    api, ids = make_notebooks(hub)
    hub.restart()
    running = hub.wait_status(api, ids["keeps-running"], "running")
    lab = requests.get(hub.public + running["url"], headers=api.headers, timeout=30)
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    assert hub.wait_status(api, ids["was-stopped"], "stopped")
    for notebook_id in ids.values():
        assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_hub_restart_stopping_servers(own_hub):
    """The embedded default stops notebooks with the hub: they come back stopped, not lost."""
    hub = own_hub
    api, ids = make_notebooks(hub)
    hub.restart()
    for notebook_id in ids.values():
        stopped = hub.wait_status(api, notebook_id, "stopped")
        assert stopped["reason"] == "The notebook instance is stopped"
    code, body = api.call("GET", "/api/v1/notebook")
    assert sorted(n["notebookId"] for n in body["result"]) == sorted(ids.values())
