"""Two replicas of the service on one PostgreSQL database, as two replicas in Zero to JupyterHub.

The hub manages one; the test starts a second with the same config, token and database.
Either serves reads and writes; one at a time leads (runs the passes and retries); killing
the leader hands over within seconds, and what a dead replica left half-done is finished.
"""

import os
import signal
import subprocess
import sys

import pytest
import requests

from .faults import extra_config, inject
from .harness import ADMIN_TOKEN, ROOT, Api, Hub, free_port, notebook_body, wait_for
from .helpers import create, postgres_database, service_pid, token_of


class Replica:
    """A second service process beside the hub's own, as an operator would run it."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **hub.env,
            "JUPYTERHUB_API_TOKEN": (hub.data_dir / "service-token").read_text().strip(),
            "JUPYTERHUB_API_URL": f"http://127.0.0.1:{hub.hub_port}/hub/api",
            "JUPYTERHUB_SERVICE_URL": self.url,
            "JUPYTERHUB_SERVICE_PREFIX": "/services/submarine/",
            "JUPYTERHUB_CLIENT_ID": "service-submarine",
            "JUPYTERHUB_BASE_URL": "/",
        }
        log = open(hub.data_dir / f"replica-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub_service", "--config", str(ROOT / "jupyterhub_config.py")],
            cwd=hub.data_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.admin = Api(self.url, ADMIN_TOKEN)
        wait_for(self._answers, 60, 0.2, "the second replica")

    def _answers(self):
        try:
            return self.admin.get("/api/v1/notebook/ping", timeout=2).status_code == 200
        except requests.RequestException:
            assert self.proc.poll() is None, "the second replica exited"
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def leads(api: Api) -> bool:
    """The replica at ``api``'s base URL is the controller's leader (its metric says so)."""
    try:
        text = api.get("/metrics", timeout=5).text
    except requests.RequestException:
        return False
    return "submarine_controller_leader 1.0" in text


class Pair:
    """The hub (with its replica) and a second replica, started again when a test kills it."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.second = Replica(hub)

    def second_again(self) -> Replica:
        if self.second.proc.poll() is not None:
            self.second = Replica(self.hub)
        return self.second


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    data = tmp_path_factory.mktemp("replicas")
    with postgres_database() as url:
        hub = Hub(data, SUBMARINE_DB_URL=url, SUBMARINE_EXTRA_CONFIG=str(extra_config(data))).start()
        pair = Pair(hub)
        yield pair
        pair.second.stop()
        hub.stop()


def test_either_replica_serves_reads_and_writes(replicas, unique, notebooks):
    hub, second = replicas.hub, replicas.second_again()
    owner = f"twin-{unique}"
    token = hub.user_token(owner)
    first_api, second_api = Api(hub.direct, token), Api(second.url, token)
    notebooks.track_owner(first_api, owner)
    notebook_id = create(second_api, "made-on-two", resources="")["notebookId"]
    hub.wait_status(first_api, notebook_id, "running")
    assert second_api.call("GET", f"/api/v1/notebook/{notebook_id}")[1]["result"]["status"] == "running"
    assert create(first_api, "made-on-one", resources="")["notebookId"] != notebook_id
    assert [n["name"] for n in second_api.call("GET", "/api/v1/notebook")[1]["result"]] == [
        "made-on-two",
        "made-on-one",
    ]
    for notebook in first_api.call("GET", "/api/v1/notebook")[1]["result"]:
        assert second_api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] == 200


def test_one_leader_and_a_quick_handover(replicas):
    hub, second = replicas.hub, replicas.second_again()
    first = hub.admin
    wait_for(lambda: leads(first) != leads(second.admin), 30, 0.5, "exactly one leader")
    if leads(second.admin):
        second.proc.kill()
        second.proc.wait()
        wait_for(lambda: leads(first), 30, 0.2, "the hub's replica to lead")
        assert not leads(replicas.second_again().admin)
    else:
        pid = service_pid(hub)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: leads(second.admin), 30, 0.2, "the second replica to lead")
        wait_for(lambda: service_pid(hub) not in (None, pid), 90, 0.5, "the hub to restart its replica")
        hub.wait_ready()
        assert not leads(first)


def test_what_a_dead_replica_left_half_done_is_finished(replicas, unique, notebooks):
    """The second replica serves a create and dies after making the server; the one left
    (the leader, or the leader from then on) carries on."""
    hub, second = replicas.hub, replicas.second_again()
    owner = f"orphan-{unique}"
    api = Api(hub.direct, hub.user_token(owner))
    notebooks.track_owner(api, owner)
    inject(hub.data_dir, "create_server", "after")
    with pytest.raises(requests.RequestException):
        Api(second.url, token_of(api)).call("POST", "/api/v1/notebook", notebook_body("left", resources=""))
    assert second.proc.wait(10) == 9
    (notebook,) = wait_for(lambda: api.call("GET", "/api/v1/notebook")[1]["result"], 60, 0.5, "the notebook")
    hub.wait_status(api, notebook["notebookId"], "running", timeout=120)
    assert set(hub.hub_user(owner)["servers"]) - {""} == {"left"}
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] == 200
