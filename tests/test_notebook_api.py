"""The seed's create/list/get/delete flow against a real hub, proxy and JupyterLab."""

import re

import requests

from .harness import Api, notebook_body, wait_for
from .helpers import hub_start, token_of

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
NOTEBOOK_ID = re.compile(r"^notebook_\d{13}_\d{4,}$")


def envelope_ok(code, body, message):
    assert code == 200, body
    assert body["status"] == "OK" and body["code"] == 200 and body["success"] is True
    assert body["message"] == message
    assert body["attributes"] is not None
    return body["result"]


def test_seed_flow_to_running_and_back(hub, alice, notebooks):
    owner, api = alice
    code, body = api.call("POST", "/api/v1/notebook", notebook_body("test-nb", owner))
    created = envelope_ok(code, body, "Create a notebook instance")
    notebook_id = notebooks.track(api, created["notebookId"])
    assert re.match(r"^notebook_\d{13}_\d{4,}$", notebook_id)
    assert created["name"] == "test-nb"
    assert re.match(r"^[0-9a-f-]{36}$", created["uid"])
    assert created["url"] == f"/user/{owner}/test-nb/lab"
    assert created["status"] in ("creating", "running")
    assert ISO.match(created["createdTime"]) and created["deletedTime"] is None
    spec = created["spec"]
    assert spec["meta"] == {"name": "test-nb", "namespace": "default", "ownerId": owner}
    assert spec["environment"]["name"] == "notebook-env"
    assert spec["environment"]["kernelSpec"]["name"] == "submarine_jupyter_py3"
    assert set(spec["environment"]) == {"name", "dockerImage", "kernelSpec", "description", "image"}
    assert spec["spec"] == {"envVars": {"TEST_ENV": "test"}, "resources": "cpu=1,memory=1.0Gi"}

    running = hub.wait_status(api, notebook_id, "running")
    assert running["reason"] == "The notebook instance is running"

    # the url really serves JupyterLab through the proxy, for the owner
    lab = requests.get(hub.public + running["url"], headers=api.headers, timeout=30)
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    # the notebook's envVars and resources reached the server
    status = requests.get(hub.public + f"/user/{owner}/test-nb/api/status", headers=api.headers, timeout=30)
    assert status.status_code == 200
    environ = dict(
        line.split("=", 1)
        for line in open(f"/proc/{hub.lab_pid(owner, 'test-nb')}/environ").read().split("\0")
        if "=" in line
    )
    assert environ["TEST_ENV"] == "test"
    assert environ["MEM_LIMIT"] == str(2**30) and float(environ["CPU_LIMIT"]) == 1.0
    assert environ["SUBMARINE_NOTEBOOK_ID"] == notebook_id
    workdir = hub.data_dir / "notebooks" / owner / "test-nb"
    assert environ["HOME"] == str(workdir) and workdir.is_dir()

    # the hub shows it as the owner's named server, display name = notebook name
    server = hub.hub_user(owner)["servers"]["test-nb"]
    assert server["ready"] is True
    assert server["user_options"]["notebookId"] == notebook_id
    assert server["user_options"]["environment"]["name"] == "notebook-env"

    code, body = api.call("GET", f"/api/v1/notebook?id={owner}")
    listed = envelope_ok(code, body, "List all notebook instances")
    assert [n["notebookId"] for n in listed] == [notebook_id]
    assert body["attributes"]["total"] == 1

    code, body = api.call("GET", f"/api/v1/notebook/{notebook_id}")
    got = envelope_ok(code, body, "Get the notebook instance")
    assert got["uid"] == created["uid"] and got["spec"] == created["spec"]
    assert got["createdTime"] == created["createdTime"]  # read back from the DB, offset and all

    code, body = api.call("DELETE", f"/api/v1/notebook/{notebook_id}")
    deleted = envelope_ok(code, body, "Delete the notebook instance")
    assert deleted["status"] == "terminating"
    assert deleted["reason"] == "The notebook instance is terminating"

    code, body = api.call("GET", f"/api/v1/notebook/{notebook_id}")
    assert code == 404 and body["message"] == "Notebook not found." and body["result"] is None
    assert body["status"] == "NOT_FOUND" and body["success"] is False
    assert "test-nb" not in (hub.hub_user(owner)["servers"])
    wait_for(lambda: not workdir.exists(), 30, what="the workspace to be removed")
    code, body = api.call("DELETE", f"/api/v1/notebook/{notebook_id}")
    assert code == 404


def test_same_api_through_the_proxy(hub, alice, notebooks):
    owner, api = alice
    proxied = Api(hub.public + "/services/submarine", token_of(api))
    notebook_id = notebooks.create(proxied, "via-proxy", resources="cpu=0.5")["notebookId"]
    code, body = api.call("GET", f"/api/v1/notebook/{notebook_id}")
    assert code == 200 and body["result"]["spec"]["meta"]["ownerId"] == owner
    assert proxied.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_long_names_get_a_stable_server_name(hub, alice, notebooks):
    owner, api = alice
    name = "a-notebook-name-well-beyond-the-hubs-thirty-character-limit"
    result = notebooks.create(api, name, resources="")
    server_name = result["url"].split("/")[3]
    assert len(server_name) <= 30 and server_name != name
    server = hub.hub_user(owner)["servers"][server_name]
    assert server["display_name"] == name
    hub.wait_status(api, result["notebookId"], "running")
    lab = requests.get(hub.public + result["url"], headers=api.headers, timeout=30)
    assert lab.status_code == 200
    # the same name again is the same notebook: a conflict, not a second server
    code, body = api.call("POST", "/api/v1/notebook", notebook_body(name, resources=""))
    assert code == 409, body
    assert api.call("DELETE", f"/api/v1/notebook/{result['notebookId']}")[0] == 200


def test_labels_and_resource_fields_are_accepted(hub, alice, notebooks):
    owner, api = alice
    body = notebook_body("labelled", resources="cpu=1", labels={"team": "vision", "tier": "dev"})
    body["spec"].update(memory="512Mi", gpu="0")
    code, reply = api.call("POST", "/api/v1/notebook", body)
    assert code == 200, reply
    notebooks.track(api, reply["result"]["notebookId"])
    spec = reply["result"]["spec"]
    assert spec["meta"]["labels"] == {"team": "vision", "tier": "dev"}
    assert spec["spec"]["resources"] == "cpu=1,memory=512Mi,nvidia.com/gpu=0"
    options = hub.hub_user(owner)["servers"]["labelled"]["user_options"]
    assert options["resources"] == "cpu=1,memory=512Mi,nvidia.com/gpu=0"
    assert api.call("DELETE", f"/api/v1/notebook/{reply['result']['notebookId']}")[0] == 200


def test_list_filters_by_owner_and_pages(hub, alice, bob, notebooks):
    (owner, api), (other, other_api) = alice, bob
    ids = [notebooks.create(api, name, resources="")["notebookId"] for name in ("page-a", "page-b", "page-c")]
    other_id = notebooks.create(other_api, "page-x", resources="")["notebookId"]

    code, body = api.call("GET", "/api/v1/notebook")  # no filter: the caller's own
    assert [n["notebookId"] for n in body["result"]] == ids
    code, body = api.call("GET", f"/api/v1/notebook?id={owner}&limit=2&offset=1")
    assert [n["notebookId"] for n in body["result"]] == ids[1:]
    assert body["attributes"] == {"total": 3, "offset": 1, "limit": 2}

    code, body = hub.admin.call("GET", f"/api/v1/notebook?id={other}")
    assert [n["notebookId"] for n in body["result"]] == [other_id]
    code, body = hub.admin.call("GET", "/api/v1/notebook?limit=1000")
    every = {n["notebookId"] for n in body["result"]}
    assert set(ids) | {other_id} <= every and body["attributes"]["total"] == len(every)


def test_admin_creates_for_a_new_user_on_demand(hub, unique, notebooks):
    owner = f"carol-{unique}"
    assert hub.hub_user(owner) is None
    created = notebooks.create(hub.admin, "for-carol", owner=owner, resources="")
    assert created["spec"]["meta"]["ownerId"] == owner
    assert "for-carol" in hub.hub_user(owner)["servers"]
    running = hub.wait_status(hub.admin, created["notebookId"], "running")
    # the admin token opens any notebook's url
    lab = requests.get(hub.public + running["url"], headers=hub.admin.headers, timeout=30)
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    assert hub.admin.call("DELETE", f"/api/v1/notebook/{running['notebookId']}")[0] == 200


def test_ping(hub, alice):
    _, api = alice
    code, body = api.call("GET", "/api/v1/notebook/ping")
    assert code == 200 and body["result"] == "Pong"


def test_delete_while_starting_frees_the_name(hub, alice, notebooks):
    """A notebook deleted while it starts goes away cleanly, and its name can be used again."""
    _, api = alice
    first = notebooks.create(api, "quick", resources="")["notebookId"]
    assert api.call("DELETE", f"/api/v1/notebook/{first}")[0] == 200
    assert api.call("GET", f"/api/v1/notebook/{first}")[0] == 404

    def recreate():
        code, body = api.call("POST", "/api/v1/notebook", notebook_body("quick", resources=""))
        assert code in (200, 409), body  # 409 while the hub still stops the first one
        return body["result"] if code == 200 else None

    second = wait_for(recreate, 30, 0.5, "the name to be free again")
    notebooks.track(api, second["notebookId"])
    assert second["notebookId"] != first
    hub.wait_status(api, second["notebookId"], "running")
    assert api.call("DELETE", f"/api/v1/notebook/{second['notebookId']}")[0] == 200


def test_a_server_started_on_the_hub_becomes_a_notebook(hub, alice, notebooks):
    """A start at the hub's own API is admitted by the service like any other: plain options
    (an environment by name, envVars, resources) make a notebook whose id is the service's."""
    owner, api = alice
    notebooks.track_owner(api, owner)
    environment = api.call("GET", "/api/v1/environment/notebook-env")[1]["result"]["environmentSpec"]
    options = {
        "notebookId": f"notebook_1700000000000_{owner[-4:]}",
        "environment": {"name": "notebook-env"},
        "envVars": {"FROM": "hub"},
        "resources": "cpu=0.5",
    }
    code, message = hub_start(hub, owner, token_of(api), "from-hub", options)
    assert code in (201, 202), message
    # the row exists before the spawn begins
    (notebook,) = api.call("GET", "/api/v1/notebook")[1]["result"]
    assert notebook["notebookId"] != options["notebookId"] and NOTEBOOK_ID.match(notebook["notebookId"])
    assert notebook["url"] == f"/user/{owner}/from-hub/lab"
    assert notebook["spec"] == {
        "meta": {"name": "from-hub", "namespace": "default", "ownerId": owner},
        "environment": environment,
        "spec": {"envVars": {"FROM": "hub"}, "resources": "cpu=0.5"},
    }
    hub.wait_status(api, notebook["notebookId"], "running")
    # the hub keeps the admitted request, with the service's id
    kept = hub.hub_user(owner)["servers"]["from-hub"]["user_options"]
    assert kept == {
        "notebookId": notebook["notebookId"],
        "namespace": "default",
        "environment": {"name": "notebook-env"},
        "envVars": {"FROM": "hub"},
        "resources": "cpu=0.5",
    }
    # and deleting it through the API removes it from the hub
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] == 200
    assert "from-hub" not in hub.hub_user(owner)["servers"]
