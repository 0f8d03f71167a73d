"""Beyond Submarine: stop/start, changes while stopped, events, logs, culling, quotas, 429s."""

import json

import pytest
import requests

from .harness import Hub, notebook_body
from .helpers import create_running, token_of
from .lab import lab


def test_stop_keeps_the_workspace_and_start_brings_it_back(hub, alice, notebooks):
    owner, api = alice
    running = notebooks.create_running(hub, api, "stop-start", resources="cpu=0.5")
    notebook_id = running["notebookId"]
    saved = lab(hub, owner, "stop-start", token_of(api)).put(
        "/api/contents/hello.txt", json={"type": "file", "format": "text", "content": "kept"}
    )
    assert saved.status_code in (200, 201), saved.text

    code, body = api.call("POST", f"/api/v1/notebook/{notebook_id}/stop")
    assert code == 200 and body["message"] == "Stop the notebook instance", body
    assert body["result"]["status"] in ("stopped", "terminating")
    stopped = hub.wait_status(api, notebook_id, "stopped")
    assert stopped["spec"] == running["spec"] and stopped["url"] == running["url"]
    assert lab(hub, owner, "stop-start", token_of(api)).get("/api/status").status_code != 200
    # stopping a stopped notebook changes nothing; starting a running one is a conflict
    assert api.call("POST", f"/api/v1/notebook/{notebook_id}/stop")[1]["result"]["status"] == "stopped"

    code, body = api.call("POST", f"/api/v1/notebook/{notebook_id}/start")
    assert code == 200 and body["result"]["status"] in ("creating", "running"), body
    again = hub.wait_status(api, notebook_id, "running")
    assert again["url"] == running["url"]
    content = lab(hub, owner, "stop-start", token_of(api)).get("/api/contents/hello.txt").json()
    assert content["content"] == "kept"
    code, body = api.call("POST", f"/api/v1/notebook/{notebook_id}/start")
    assert code == 409 and "only a stopped or failed notebook can be started" in body["message"]

    # events tell the story, oldest first
    code, body = api.call("GET", f"/api/v1/notebook/{notebook_id}/events")
    assert code == 200
    history = [event["status"] for event in body["result"]]
    assert history[0] == "creating" and history[-1] == "running"
    assert "stopped" in history and history.count("running") == 2
    assert all(event["time"] and event["id"] for event in body["result"])


def test_others_may_not_stop_or_start(hub, alice, bob, notebooks):
    (_, api), (_, other_api) = alice, bob
    notebook_id = notebooks.create(api, "mine-only", resources="")["notebookId"]
    for action in ("stop", "start"):
        assert other_api.call("POST", f"/api/v1/notebook/{notebook_id}/{action}")[0] == 403
    assert other_api.call("PATCH", f"/api/v1/notebook/{notebook_id}", {"spec": {"resources": ""}})[0] == 403
    assert other_api.call("GET", f"/api/v1/notebook/{notebook_id}/events")[0] == 403
    assert other_api.call("GET", f"/api/v1/notebook/{notebook_id}/logs")[0] == 403
    assert api.call("POST", "/api/v1/notebook/notebook_1_0001/stop")[0] == 404


def test_changes_only_while_stopped(hub, alice, notebooks):
    owner, api = alice
    running = notebooks.create_running(hub, api, "changing", resources="cpu=1")
    notebook_id = running["notebookId"]
    change = {
        "spec": {"envVars": {"STAGE": "two"}, "resources": "cpu=0.5,memory=512Mi"},
        "environment": {"name": "notebook-gpu-env"},
    }
    code, body = api.call("PATCH", f"/api/v1/notebook/{notebook_id}", change)
    assert code == 409 and "stop it first" in body["message"], body

    api.call("POST", f"/api/v1/notebook/{notebook_id}/stop")
    hub.wait_status(api, notebook_id, "stopped")
    for bad, status, words in [
        ({"spec": {"resources": "cpu=lots"}}, 400, "spec.resources"),
        ({"spec": {"envVars": {"JPY_X": "1"}}}, 400, "reserved"),
        ({"spec": {"cpu": "1"}}, 400, "spec.cpu: is not a known field"),
        ({"environment": {"name": "no-such-env"}}, 404, "Environment not found."),
        ({"colour": "blue"}, 400, "colour"),
    ]:
        code, body = api.call("PATCH", f"/api/v1/notebook/{notebook_id}", bad)
        assert code == status and words in body["message"], body
    assert api.call("GET", f"/api/v1/notebook/{notebook_id}")[1]["result"]["spec"] == running["spec"]

    code, body = api.call("PATCH", f"/api/v1/notebook/{notebook_id}", change)
    assert code == 200 and body["message"] == "Update the notebook instance", body
    spec = body["result"]["spec"]
    assert spec["spec"] == {"envVars": {"STAGE": "two"}, "resources": "cpu=0.5,memory=512Mi"}
    assert spec["environment"]["name"] == "notebook-gpu-env"

    api.call("POST", f"/api/v1/notebook/{notebook_id}/start")
    hub.wait_status(api, notebook_id, "running")
    assert hub.hub_user(owner)["servers"]["changing"]["user_options"]["envVars"] == {"STAGE": "two"}
    environ = open(f"/proc/{hub.lab_pid(owner, 'changing')}/environ").read().split("\0")
    assert "STAGE=two" in environ and "TEST_ENV=test" not in environ
    assert f"MEM_LIMIT={512 * 2**20}" in environ and "CPU_LIMIT=0.5" in environ


def test_a_live_event_stream_ends_when_the_spawn_does(hub, alice, notebooks):
    _, api = alice
    notebook_id = notebooks.create(api, "streamed", resources="")["notebookId"]
    with api.get(
        f"/api/v1/notebook/{notebook_id}/events", headers={"Accept": "text/event-stream"}, stream=True, timeout=120
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [
            json.loads(line[len("data: ") :])
            for line in response.iter_lines(decode_unicode=True)
            if line.startswith("data: ")
        ]
    assert events[0]["status"] == "creating"
    assert events[-1]["status"] == "running"  # the stream ended by itself
    # not starting: the history, and the end
    with api.get(
        f"/api/v1/notebook/{notebook_id}/events", headers={"Accept": "text/event-stream"}, stream=True, timeout=30
    ) as response:
        replay = [line for line in response.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert len(replay) == len(events)
    code, body = api.call("GET", "/api/v1/notebook/notebook_1_0001/events", headers={"Accept": "text/event-stream"})
    assert code == 404 and body["message"] == "Notebook not found."


def test_logs_are_the_servers_last_lines(hub, alice, notebooks):
    _, api = alice
    running = notebooks.create_running(hub, api, "logged", resources="")
    code, body = api.call("GET", f"/api/v1/notebook/{running['notebookId']}/logs?tail=5")
    assert code == 200 and body["result"]["notebookId"] == running["notebookId"]
    lines = body["result"]["lines"]
    assert 0 < len(lines) <= 5
    everything = api.call("GET", f"/api/v1/notebook/{running['notebookId']}/logs?tail=10000")[1]["result"]["lines"]
    assert everything[-len(lines) :] == lines
    assert any("Jupyter" in line for line in everything)
    assert api.call("GET", f"/api/v1/notebook/{running['notebookId']}/logs?tail=0")[0] == 400


def test_metrics(hub, alice, notebooks):
    _, api = alice
    notebooks.create_running(hub, api, "measured", resources="")
    response = requests.get(hub.direct + "/metrics", headers=hub.admin.headers, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    text = response.text
    assert 'submarine_notebooks{status="running"}' in text
    assert "submarine_notebook_creates_total" in text
    assert 'submarine_notebook_status_changes_total{status="running"}' in text
    count = next(
        line for line in text.splitlines() if line.startswith("submarine_notebook_spawn_duration_seconds_count")
    )
    assert float(count.split()[-1]) >= 1
    assert api.get("/metrics").status_code == 403
    assert requests.get(hub.direct + "/metrics", timeout=10).status_code == 401


@pytest.fixture(scope="module")
def limited_hub(tmp_path_factory):
    """A hub with per-owner quotas and a concurrent spawn limit of one."""
    data = tmp_path_factory.mktemp("limited")
    extra = data / "extra_config.py"
    extra.write_text(
        "c.OwnerQuota.max_notebooks = 3\nc.OwnerQuota.max_cpu = 1.5\nc.JupyterHub.concurrent_spawn_limit = 1\n"
    )
    hub = Hub(data, SUBMARINE_EXTRA_CONFIG=str(extra)).start()
    yield hub
    hub.stop()


def test_quotas(limited_hub, notebooks):
    hub = limited_hub
    api = hub.client("quota-user")
    first = notebooks.create_running(hub, api, "q-one", resources="cpu=1")
    code, body = api.call("POST", "/api/v1/notebook", notebook_body("q-two", resources="cpu=1"))
    assert code == 403 and "cpu 1 in use + 1 asked > 1.5" in body["message"], body
    second = notebooks.create_running(hub, api, "q-two", resources="cpu=0.5")
    # stopped, a notebook holds no cpu
    api.call("POST", f"/api/v1/notebook/{first['notebookId']}/stop")
    hub.wait_status(api, first["notebookId"], "stopped")
    notebooks.create_running(hub, api, "q-three", resources="cpu=0.5")
    code, body = api.call("POST", "/api/v1/notebook", notebook_body("q-four", resources=""))
    assert code == 403 and "has 3 notebooks and may have at most 3" in body["message"], body
    code, body = api.call("POST", f"/api/v1/notebook/{first['notebookId']}/start")
    assert code == 403 and "cpu 1 in use + 1 asked > 1.5" in body["message"], body
    assert api.call("POST", f"/api/v1/notebook/{second['notebookId']}/stop")[0] == 200
    hub.wait_status(api, second["notebookId"], "stopped")
    assert api.call("POST", f"/api/v1/notebook/{first['notebookId']}/start")[0] == 200


def test_the_hubs_spawn_limit_is_a_429_and_leaves_nothing(limited_hub, notebooks):
    hub = limited_hub
    api = hub.client("busy-user")
    notebooks.track_owner(api, "busy-user")  # busy-two, should it be made after all
    notebooks.create(api, "busy-one", resources="")
    # the first is still starting (a create answers once the hub has begun the spawn)
    response = api.post("/api/v1/notebook", json=notebook_body("busy-two", resources=""))
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["status"] == "TOO_MANY_REQUESTS"
    assert "busy-two" not in hub.hub_user("busy-user")["servers"]
    assert [n["name"] for n in api.call("GET", "/api/v1/notebook")[1]["result"]] == ["busy-one"]


def test_idle_notebooks_are_culled_and_start_again(tmp_path):
    hub = Hub(tmp_path, SUBMARINE_CULL_IDLE_TIMEOUT="4").start()
    try:
        api = hub.client("idler")
        running = create_running(hub, api, "idle", resources="")
        culled = hub.wait_status(api, running["notebookId"], "stopped", timeout=90)
        assert culled["reason"].startswith("Stopped by the idle culler"), culled
        assert "idle" in hub.hub_user("idler")["servers"]  # stopped, not removed
        assert api.call("POST", f"/api/v1/notebook/{running['notebookId']}/start")[0] == 200
        hub.wait_status(api, running["notebookId"], "running")
    finally:
        hub.stop()


def test_openapi_document(hub, alice):
    _, api = alice
    code, document = api.call("GET", "/api/v1/openapi.json")
    assert code == 200 and document["openapi"].startswith("3.")
    assert {
        "/api/v1/notebook",
        "/api/v1/notebook/{id}",
        "/api/v1/notebook/{id}/stop",
        "/api/v1/environment/{name}",
    } <= set(document["paths"])
