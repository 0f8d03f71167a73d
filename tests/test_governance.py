"""Environments as platform teams govern them: who may use which, pod settings, lifecycle,
run-time policy, and notebooks shared with a colleague or a group. Against a real hub.
"""

import time

import pytest
import requests

from .harness import Hub, notebook_body, wait_for
from .helpers import hub_start, login, token_of
from .lab import lab, run_in_kernel

KERNEL = "python3"
SETTINGS = """
c.SubmarinePolicy.min_timeout = 1
c.SubmarineService.cull_interval = 1
c.SubmarinePolicy.volumes = {"datasets": {"volume": {"persistentVolumeClaim": {"claimName": "datasets"}},
                                           "mountPath": "/data"}}
"""


@pytest.fixture(scope="module")
def gov_hub(tmp_path_factory):
    data = tmp_path_factory.mktemp("governance")
    extra = data / "extra_config.py"
    extra.write_text(SETTINGS)
    hub = Hub(data, SUBMARINE_EXTRA_CONFIG=str(extra)).start()
    yield hub
    hub.stop()


def environment(hub, name, **fields):
    body = {"name": name, "dockerImage": "example.org/notebook:1", "kernelSpec": {"name": KERNEL}, **fields}
    code, reply = hub.admin.call("POST", "/api/v1/environment", body)
    assert code == 200, reply
    return reply["result"]["environmentSpec"]


def group(hub, name, *members):
    hub.hub_api.post(f"/groups/{name}")
    assert hub.hub_api.post(f"/groups/{name}/users", json={"users": list(members)}).status_code == 200


def try_create(api, name, env):
    """A create in ``env`` whose answer the test checks: (status, envelope)."""
    return api.call("POST", "/api/v1/notebook", notebook_body(name, environment=env, resources=""))


# --- who may use which ----------------------------------------------------------------------------


def test_an_environment_for_a_group_is_for_its_members_at_every_door(gov_hub, unique, notebooks):
    hub = gov_hub
    member, outsider = f"vision-{unique}", f"other-{unique}"
    member_api, outsider_api = hub.client(member), hub.client(outsider)
    team = f"vision-team-{unique}"
    group(hub, team, member)
    name = f"vision-{unique}"
    environment(hub, name, groups=[team], description="for the vision team")

    listed = {e["environmentSpec"]["name"] for e in member_api.call("GET", "/api/v1/environment")[1]["result"]}
    assert name in listed
    listed = {e["environmentSpec"]["name"] for e in outsider_api.call("GET", "/api/v1/environment")[1]["result"]}
    assert name not in listed and "notebook-env" in listed
    assert outsider_api.call("GET", f"/api/v1/environment/{name}")[0] == 404
    assert hub.admin.call("GET", f"/api/v1/environment/{name}")[0] == 200

    code, body = try_create(outsider_api, "try", name)
    assert code == 403 and f"'{outsider}' is in none of them" in body["message"], body
    code, message = hub_start(hub, outsider, token_of(outsider_api), "door", {"environment": {"name": name}})
    assert code == 403 and team in message, message
    form = login(hub, outsider, "user-password").get(f"{hub.public}/hub/spawn/{outsider}/form", timeout=30)
    assert f'value="{name}"' not in form.text and 'value="notebook-env"' in form.text
    form = login(hub, member, "user-password").get(f"{hub.public}/hub/spawn/{member}/form", timeout=30)
    assert f'value="{name}"' in form.text and "for the vision team" in form.text

    notebook = notebooks.create_running(hub, member_api, "seeing", environment=name, resources="")
    # a PATCH to it is refused to the outsider's notebook too
    other = notebooks.create_running(hub, outsider_api, "plain", environment="notebook-env", resources="")
    assert outsider_api.call("POST", f"/api/v1/notebook/{other['notebookId']}/stop")[0] == 200
    hub.wait_status(outsider_api, other["notebookId"], "stopped")
    code, body = outsider_api.call("PATCH", f"/api/v1/notebook/{other['notebookId']}", {"environment": {"name": name}})
    assert code == 403, body
    for api, made in ((member_api, notebook), (outsider_api, other)):
        assert api.call("DELETE", f"/api/v1/notebook/{made['notebookId']}")[0] in (200, 202)


@pytest.mark.parametrize(
    "pod,words",
    [
        ({"volumes": ["secrets"]}, "pod.volumes.0: 'secrets' is not one of this hub's volumes (datasets)"),
        ({"shmSize": "lots"}, "pod.shmSize"),
        ({"tolerations": [{"key": "gpu", "operator": "Sometimes"}]}, "pod.tolerations.0.operator"),
        ({"affinity": {"nodeAffinity": {"required": []}}}, "pod.affinity: nodeAffinity.required: is not a field"),
        ({"imagePullSecrets": ["My Secret"]}, "pod.imagePullSecrets.0"),
        ({"privileged": True}, "pod.privileged: is not a known field"),
    ],
)
def test_pod_settings_are_checked(gov_hub, unique, pod, words):
    code, body = gov_hub.admin.call(
        "POST", "/api/v1/environment", {"name": f"pods-{unique}", "dockerImage": "img", "pod": pod}
    )
    assert code == 400 and words in body["message"], body


def test_pod_settings_are_recorded_and_shown(gov_hub, unique, notebooks):
    pod = {
        "nodeSelector": {"accelerator": "nvidia"},
        "shmSize": "1Gi",
        "volumes": ["datasets"],
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    made = environment(gov_hub, f"pods-{unique}", pod=pod)
    assert made["pod"]["nodeSelector"] == {"accelerator": "nvidia"} and made["pod"]["volumes"] == ["datasets"]
    api = gov_hub.client(f"pods-{unique}")
    # locally: recorded, inert
    notebook = notebooks.create_running(gov_hub, api, "with-pods", environment=f"pods-{unique}", resources="")
    assert notebook["spec"]["environment"]["pod"]["shmSize"] == "1Gi"
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] in (200, 202)


# --- lifecycle ------------------------------------------------------------------------------------


def test_deprecation_and_redirect_move_notebooks_at_their_next_start(gov_hub, unique, notebooks):
    hub = gov_hub
    api = hub.client(f"mover-{unique}")
    old, new = f"old-{unique}", f"new-{unique}"
    environment(hub, old)
    environment(hub, new, description="the successor")
    notebook = notebooks.create_running(hub, api, "moving", environment=old, resources="")
    notebook_id = notebook["notebookId"]
    assert notebook["pendingRestart"] is False
    code, body = hub.admin.call(
        "PATCH", f"/api/v1/environment/{old}", {"deprecated": "Python 3.9 is out of support", "redirectTo": new}
    )
    assert code == 200, body
    code, body = try_create(api, "fresh", old)
    assert code == 409 and "Python 3.9 is out of support" in body["message"] and f"use '{new}'" in body["message"]
    # the running one keeps running, told why a restart is pending
    current = api.call("GET", f"/api/v1/notebook/{notebook_id}")[1]["result"]
    assert current["status"] == "running" and current["pendingRestart"] is True
    assert f"moves the notebook to '{new}'" in current["pendingRestartReason"]
    assert current["spec"]["environment"]["name"] == old
    assert api.call("POST", f"/api/v1/notebook/{notebook_id}/stop")[0] == 200
    hub.wait_status(api, notebook_id, "stopped")
    assert api.call("POST", f"/api/v1/notebook/{notebook_id}/start")[0] == 200
    moved = hub.wait_status(api, notebook_id, "running")
    assert moved["spec"]["environment"]["name"] == new and moved["pendingRestart"] is False
    events = [e["message"] for e in api.call("GET", f"/api/v1/notebook/{notebook_id}/events")[1]["result"]]
    assert any(f"moved from environment '{old}' to '{new}'" in (m or "") for m in events), events
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] in (200, 202)


def test_a_changed_environment_reaches_its_notebooks_at_their_next_start_only(gov_hub, unique, notebooks):
    hub = gov_hub
    api = hub.client(f"keeper-{unique}")
    name = f"changing-{unique}"
    environment(hub, name)
    notebook = notebooks.create_running(hub, api, "keeps", environment=name, resources="")
    notebook_id = notebook["notebookId"]
    assert hub.admin.call("PATCH", f"/api/v1/environment/{name}", {"description": "words only"})[0] == 200
    assert api.call("GET", f"/api/v1/notebook/{notebook_id}")[1]["result"]["pendingRestart"] is False
    assert hub.admin.call("PATCH", f"/api/v1/environment/{name}", {"dockerImage": "example.org/notebook:2"})[0] == 200
    current = api.call("GET", f"/api/v1/notebook/{notebook_id}")[1]["result"]
    assert current["pendingRestart"] is True and "revision 2" in current["pendingRestartReason"]
    assert current["status"] == "running" and current["spec"]["environment"]["dockerImage"] == "example.org/notebook:1"
    page = login(hub, f"keeper-{unique}", "user-password").get(f"{hub.public}/hub/home", timeout=30)
    assert "restart pending" in page.text
    assert api.call("POST", f"/api/v1/notebook/{notebook_id}/stop")[0] == 200
    hub.wait_status(api, notebook_id, "stopped")
    assert api.call("POST", f"/api/v1/notebook/{notebook_id}/start")[0] == 200
    restarted = hub.wait_status(api, notebook_id, "running")
    assert restarted["spec"]["environment"]["dockerImage"] == "example.org/notebook:2"
    assert restarted["pendingRestart"] is False
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] in (200, 202)


# --- run-time policy ------------------------------------------------------------------------------


def test_an_idle_notebook_is_stopped_saying_why_and_a_busy_kernel_keeps_one_alive(gov_hub, unique, notebooks):
    hub = gov_hub
    owner = f"idle-{unique}"
    api = hub.client(owner)
    name = f"short-idle-{unique}"
    environment(hub, name, idleTimeout=8)
    idle = notebooks.create_running(hub, api, "idle", environment=name, resources="")
    notebooks.create_running(hub, api, "busy", environment=name, resources="")
    # a cell that runs without output for longer than the idle timeout: its kernel is busy
    started = time.monotonic()
    output = run_in_kernel(hub, owner, "busy", token_of(api), KERNEL, "import time; time.sleep(20); print('done')")
    assert output.strip() == "done" and time.monotonic() - started >= 20
    stopped = hub.wait_status(api, idle["notebookId"], "stopped", timeout=60)
    assert "idle for" in stopped["reason"] and "(idleTimeout)" in stopped["reason"], stopped["reason"]
    (busy,) = [n for n in api.call("GET", "/api/v1/notebook")[1]["result"] if n["name"] == "busy"]
    assert busy["status"] == "running"
    for notebook in (busy, idle):
        assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] in (200, 202)


def test_a_notebook_past_its_maximum_run_time_is_stopped_saying_so(gov_hub, unique, notebooks):
    hub = gov_hub
    api = hub.client(f"runner-{unique}")
    name = f"short-run-{unique}"
    environment(hub, name, maxRuntime=8)
    notebook = notebooks.create_running(hub, api, "bounded", environment=name, resources="")
    stopped = hub.wait_status(api, notebook["notebookId"], "stopped", timeout=60)
    assert "(maxRuntime)" in stopped["reason"], stopped["reason"]
    assert api.call("POST", f"/api/v1/notebook/{notebook['notebookId']}/start")[0] == 200  # it starts again
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] in (200, 202)


@pytest.mark.parametrize(
    "field,value,words", [("idleTimeout", 0, "greater than 0"), ("maxRuntime", -5, "greater than 0")]
)
def test_run_time_policies_are_checked(gov_hub, unique, field, value, words):
    code, body = gov_hub.admin.call(
        "POST", "/api/v1/environment", {"name": f"bad-{unique}", "dockerImage": "img", field: value}
    )
    assert code == 400 and field in body["message"] and words in body["message"], body


# --- sharing --------------------------------------------------------------------------------------


def test_a_notebook_shared_with_a_colleague_and_then_not(gov_hub, unique, notebooks):
    hub = gov_hub
    owner, colleague = f"sharer-{unique}", f"colleague-{unique}"
    api, other = hub.client(owner), hub.client(colleague)
    notebook = notebooks.create_running(hub, api, "together", environment="notebook-env", resources="")
    notebook_id = notebook["notebookId"]
    assert other.call("GET", f"/api/v1/notebook/{notebook_id}")[0] == 403

    code, body = other.call("POST", f"/api/v1/notebook/{notebook_id}/shares", {"user": colleague})
    assert code == 403, body  # only the owner (or an admin) shares
    code, body = api.call("POST", f"/api/v1/notebook/{notebook_id}/shares", {"user": colleague})
    assert code == 200 and body["result"][0]["user"] == colleague, body
    assert api.call("GET", f"/api/v1/notebook/{notebook_id}/shares")[1]["result"][0]["user"] == colleague

    listed = other.call("GET", "/api/v1/notebook")[1]["result"]
    assert [(n["notebookId"], n["sharedBy"]) for n in listed] == [(notebook_id, owner)]
    assert api.call("GET", "/api/v1/notebook")[1]["result"][0]["sharedBy"] is None
    # the hub lets them into the lab, with their own token
    response = requests.get(f"{hub.public}{notebook['url']}", headers=other.headers, timeout=30)
    assert response.status_code == 200 and "JupyterLab" in response.text
    assert lab(hub, owner, "together", token_of(other)).get("/api/status").status_code == 200
    # and they may read it, not change it
    url = f"/api/v1/notebook/{notebook_id}"
    for method, path, body in (
        ("DELETE", url, None),
        ("POST", url + "/stop", None),
        ("POST", url + "/start", None),
        ("PATCH", url, {"spec": {"envVars": {"A": "b"}}}),
    ):
        assert other.call(method, path, body)[0] == 403, (method, path)

    code, body = api.call("DELETE", f"/api/v1/notebook/{notebook_id}/shares/user/{colleague}")
    assert code == 200 and body["result"] == [], body
    assert other.call("GET", "/api/v1/notebook")[1]["result"] == []
    # the lab trusts the hub's answer on a token for SubmarineSpawnerMixin.lab_auth_cache_max_age (30 s)
    wait_for(
        lambda: lab(hub, owner, "together", token_of(other)).get("/api/status").status_code in (403, 404),
        60,
        1,
        "the colleague's access to end",
    )
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}/shares/user/{colleague}")[0] == 404
    assert api.call("DELETE", url)[0] in (200, 202)


def test_a_notebook_shared_with_a_group(gov_hub, unique, notebooks):
    hub = gov_hub
    owner, member = f"teacher-{unique}", f"student-{unique}"
    api, student = hub.client(owner), hub.client(member)
    team = f"class-{unique}"
    group(hub, team, member)
    notebook = notebooks.create_running(hub, api, "lesson", environment="notebook-env", resources="")
    code, body = api.call("POST", f"/api/v1/notebook/{notebook['notebookId']}/shares", {"group": team})
    assert code == 200 and body["result"][0]["group"] == team, body
    assert [n["sharedBy"] for n in student.call("GET", "/api/v1/notebook")[1]["result"]] == [owner]
    response = requests.get(f"{hub.public}{notebook['url']}", headers=student.headers, timeout=30)
    assert response.status_code == 200
    code, body = api.call("POST", f"/api/v1/notebook/{notebook['notebookId']}/shares", {"group": "no-such-group"})
    assert code == 404, body
    code, body = api.call("POST", f"/api/v1/notebook/{notebook['notebookId']}/shares", {"user": "x", "group": team})
    assert code == 400 and "exactly one of user and group" in body["message"], body
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] in (200, 202)
    assert student.call("GET", "/api/v1/notebook")[1]["result"] == []
