"""The service as a controller: crash-safe at every step, honest under a slow hub, no 5xx in races.

Faults are injected into the real service (tests/faults.py): killed between two steps of a
create, a stop or a delete; the hub frozen (SIGSTOP) between the token check and a step, or
before the token check; the hub failing a call. Each time, what the client was told holds, and the notebook converges:
nothing stuck, nothing orphaned, nothing duplicated. On sqlite and PostgreSQL.
"""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .faults import extra_config, inject, pending
from .harness import Hub, notebook_body, wait_for
from .helpers import lab_processes, postgres_database, service_pid

# a request waits this long for the hub before it answers (c.SubmarineService.request_timeout)
REQUEST_TIMEOUT = 3
# and this long for one answer of the hub (c.SubmarineService.hub_timeout; a start's answer
# comes when the spawn ends, up to the hub's slow_spawn_timeout of 10 s)
HUB_TIMEOUT = 15


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def faulty_hub(request, tmp_path_factory):
    data = tmp_path_factory.mktemp(f"faults-{request.param}")
    settings = (
        f"c.SubmarineService.request_timeout = {REQUEST_TIMEOUT}\nc.SubmarineService.hub_timeout = {HUB_TIMEOUT}\n"
    )
    extra = {"SUBMARINE_EXTRA_CONFIG": str(extra_config(data, settings))}
    if request.param == "sqlite":
        hub = Hub(data, **extra).start()
        yield hub
        hub.stop()
    else:
        with postgres_database() as url:
            hub = Hub(data, SUBMARINE_DB_URL=url, **extra).start()
            yield hub
            hub.stop()


def crash_in(hub, api, method, url, body=None):
    """A request the service dies in the middle of (or just after it answered, when the step
    goes on after the answer); back once the hub has restarted the service."""
    pid = service_pid(hub)
    try:
        api.call(method, url, body)
    except requests.RequestException:
        pass  # no answer: the service died
    wait_for(lambda: not pending(hub.data_dir), 30, 0.2, "the injected fault to fire")
    wait_for(lambda: service_pid(hub) not in (None, pid), 90, 0.5, "the hub to restart the service")
    hub.wait_ready()


def notebooks_named(api, name):
    return [n for n in api.call("GET", "/api/v1/notebook")[1]["result"] if n["name"] == name]


def hub_servers(hub, owner):
    return set((hub.hub_user(owner) or {}).get("servers", {})) - {""}


@pytest.mark.parametrize(
    "call,when",
    [
        ("ensure_user", "after"),
        ("create_server", "before"),
        ("create_server", "after"),
        ("start_server", "before"),
        ("start_server", "after"),
    ],
)
def test_a_create_cut_off_by_a_crash_converges(faulty_hub, unique, call, when, notebooks):
    hub = faulty_hub
    owner = f"crash-{unique}"
    api = hub.client(owner)
    notebooks.track_owner(api, owner)
    inject(hub.data_dir, call, when)
    crash_in(hub, api, "POST", "/api/v1/notebook", notebook_body("cut", resources=""))
    # the create was written down before the first step: the restarted service finishes it
    (notebook,) = wait_for(lambda: notebooks_named(api, "cut"), 30, 0.5, "the notebook")
    hub.wait_status(api, notebook["notebookId"], "running", timeout=120)
    assert len(notebooks_named(api, "cut")) == 1 and hub_servers(hub, owner) == {"cut"}
    # 202: the lab may take longer to stop than the short request_timeout
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] in (200, 202)
    wait_for(lambda: not hub_servers(hub, owner), 60, 0.5, "the server to go")


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_delete_cut_off_by_a_crash_is_carried_out(faulty_hub, unique, when, notebooks):
    hub = faulty_hub
    owner = f"undead-{unique}"
    api = hub.client(owner)
    notebook_id = notebooks.create_running(hub, api, "doomed", resources="")["notebookId"]
    inject(hub.data_dir, "delete_server", when)
    crash_in(hub, api, "DELETE", f"/api/v1/notebook/{notebook_id}")
    assert api.call("GET", f"/api/v1/notebook/{notebook_id}")[0] == 404
    wait_for(lambda: not hub_servers(hub, owner), 60, 0.5, "the deleted notebook's server to go")


def test_a_stop_cut_off_by_a_crash_is_carried_out(faulty_hub, unique, notebooks):
    hub = faulty_hub
    api = hub.client(f"halt-{unique}")
    notebook_id = notebooks.create_running(hub, api, "halting", resources="")["notebookId"]
    inject(hub.data_dir, "delete_server", "before")
    crash_in(hub, api, "POST", f"/api/v1/notebook/{notebook_id}/stop")
    hub.wait_status(api, notebook_id, "stopped", timeout=60)
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] in (200, 202)


# --- a hub that does not answer, or fails ------------------------------------------------------


def thaw(hub):
    """Let a hub the service froze (tests/faults.py) run again."""
    os.kill(hub.proc.pid, signal.SIGCONT)


def frozen_call(hub, api, call, method, url, body=None):
    """``method url`` with the hub frozen just before the service's ``call`` reaches it; the hub
    runs again once the service has answered."""
    inject(hub.data_dir, call, "freeze")
    try:
        return api.request(method, url, json=body)
    finally:
        thaw(hub)


def test_a_create_the_hub_does_not_answer_is_called_off_and_never_happens(faulty_hub, unique, notebooks):
    hub = faulty_hub
    owner = f"frozen-{unique}"
    api = hub.client(owner)
    notebooks.track_owner(api, owner)
    response = frozen_call(hub, api, "create_server", "POST", "/api/v1/notebook", notebook_body("never", resources=""))
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "SERVICE_UNAVAILABLE" and "not created" in body["message"]
    assert int(response.headers["Retry-After"]) > 0
    # the hub runs the PUT it had queued: what it made is removed, and never becomes a notebook
    wait_for(lambda: "never" not in hub_servers(hub, owner), 90, 0.5, "what the hub made late to go")
    assert notebooks_named(api, "never") == [] and lab_processes(owner) == []
    made = notebooks.create(api, "never", resources="")
    assert api.call("DELETE", f"/api/v1/notebook/{made['notebookId']}")[0] in (200, 202)


def test_a_start_stop_and_delete_the_hub_does_not_answer_are_accepted_and_carried_out(faulty_hub, unique, notebooks):
    hub = faulty_hub
    owner = f"patient-{unique}"
    api = hub.client(owner)
    notebook_id = notebooks.create_running(hub, api, "later", resources="")["notebookId"]
    url = f"/api/v1/notebook/{notebook_id}"
    for action, call, status in (("stop", "delete_server", "stopped"), ("start", "start_server", "running")):
        response = frozen_call(hub, api, call, "POST", f"{url}/{action}")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "ACCEPTED" and "accepted" in response.json()["message"]
        hub.wait_status(api, notebook_id, status, timeout=90)
    response = frozen_call(hub, api, "delete_server", "DELETE", url)
    assert response.status_code == 202 and response.json()["result"]["status"] == "terminating", response.text
    assert api.call("GET", url)[0] == 404
    wait_for(lambda: not hub_servers(hub, owner), 90, 0.5, "the server to go")


def test_a_token_the_hub_cannot_check_is_a_503_and_changes_nothing(faulty_hub, unique, notebooks):
    hub = faulty_hub
    owner = f"unchecked-{unique}"
    api = hub.client(owner)
    notebooks.track_owner(api, owner)
    os.kill(hub.proc.pid, signal.SIGSTOP)
    try:
        response = api.post("/api/v1/notebook", json=notebook_body("unchecked", resources=""))
    finally:
        thaw(hub)
    assert response.status_code == 503, response.text
    assert "check of your token" in response.json()["message"] and int(response.headers["Retry-After"]) > 0
    assert notebooks_named(api, "unchecked") == []


def test_a_hub_that_fails_a_create_leaves_nothing(faulty_hub, unique, notebooks):
    hub = faulty_hub
    owner = f"failing-{unique}"
    api = hub.client(owner)
    notebooks.track_owner(api, owner)
    inject(hub.data_dir, "create_server", "fail", 502)
    code, body = api.call("POST", "/api/v1/notebook", notebook_body("broken", resources=""))
    assert code == 503 and "not created" in body["message"], body
    assert notebooks_named(api, "broken") == []
    wait_for(lambda: "broken" not in hub_servers(hub, owner), 30, 0.5, "nothing on the hub")


# --- races between the requests on one notebook -------------------------------------------------


def test_a_new_owners_parallel_first_creates_all_succeed(faulty_hub, unique, notebooks):
    hub = faulty_hub
    owner = f"fresh-{unique}"
    notebooks.track_owner(hub.admin, owner)
    with ThreadPoolExecutor(10) as pool:
        replies = list(
            pool.map(
                lambda i: hub.admin.call("POST", "/api/v1/notebook", notebook_body(f"first-{i}", owner, resources="")),
                range(10),
            )
        )
    assert [code for code, _ in replies] == [200] * 10, replies


def test_racing_changes_of_one_notebook_answer_no_5xx_and_a_delete_wins(faulty_hub, unique, notebooks):
    hub = faulty_hub
    owner = f"racer-{unique}"
    api = hub.client(owner)
    notebook_id = notebooks.create(api, "contested", resources="")["notebookId"]
    url = f"/api/v1/notebook/{notebook_id}"
    actions = [
        ("POST", url + "/stop", None),
        ("POST", url + "/start", None),
        ("PATCH", url, {"spec": {"envVars": {"ROUND": "x"}}}),
        ("GET", url, None),
    ] * 4
    actions.insert(9, ("DELETE", url, None))
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda action: api.call(*action), actions))
    assert all(code < 500 for code, _ in replies), replies
    assert {code for code, _ in replies} <= {200, 202, 404, 409}, replies
    deletes = [code for (method, _, _), (code, _) in zip(actions, replies, strict=True) if method == "DELETE"]
    assert deletes in ([200], [202])
    assert api.call("GET", url)[0] == 404
    wait_for(lambda: not hub_servers(hub, owner), 90, 0.5, "the deleted notebook's server to go")
