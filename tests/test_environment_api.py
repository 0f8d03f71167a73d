"""The environment catalogue: anyone reads, admins (or the custom scope) write."""

import re

from .harness import Api


def env_spec(name, image="python:3.11-slim", **extra):
    return {
        "name": name,
        "dockerImage": image,
        "kernelSpec": {"name": "python3", "channels": ["defaults"], "condaDependencies": [], "pipDependencies": []},
        **extra,
    }


def test_seeded_environments(hub, alice):
    _, api = alice
    code, body = api.call("GET", "/api/v1/environment")
    assert code == 200 and body["message"] == "List all environments"
    seeded = {e["environmentSpec"]["name"]: e for e in body["result"]}
    assert {"notebook-env", "notebook-gpu-env"} <= set(seeded)
    for name in ("notebook-env", "notebook-gpu-env"):
        assert re.match(r"^environment_\d{13}_\d{4,}$", seeded[name]["environmentId"])
        spec = seeded[name]["environmentSpec"]
        assert spec["kernelSpec"] == {
            "name": "submarine_jupyter_py3",
            "channels": ["defaults"],
            "condaDependencies": [],
            "pipDependencies": [],
        }
        assert spec["dockerImage"].startswith("apache/submarine:jupyter-notebook")
    code, body = api.call("GET", "/api/v1/environment/notebook-gpu-env")
    assert code == 200 and body["result"] == seeded["notebook-gpu-env"]


def test_crud_by_an_admin(hub, unique):
    admin, name = hub.admin, f"env-{unique}"
    code, body = admin.call("POST", "/api/v1/environment", env_spec(name, description="team env"))
    assert code == 200 and body["message"] == "Create an environment", body
    created = body["result"]
    # what governs it, at its defaults (README: Governing environments)
    governance = {
        "groups": [],
        "deprecated": None,
        "redirectTo": None,
        "idleTimeout": None,
        "maxRuntime": None,
        "pod": {
            "nodeSelector": {},
            "tolerations": [],
            "affinity": None,
            "imagePullSecrets": [],
            "shmSize": None,
            "volumes": [],
        },
    }
    assert created["environmentSpec"] == {**env_spec(name), "description": "team env", "image": None, **governance}
    assert admin.call("POST", "/api/v1/environment", env_spec(name))[0] == 409

    code, body = admin.call("PATCH", f"/api/v1/environment/{name}", {"dockerImage": "python:3.12-slim"})
    assert code == 200 and body["result"]["environmentSpec"]["dockerImage"] == "python:3.12-slim"
    assert body["result"]["environmentSpec"]["description"] == "team env"
    assert body["result"]["environmentId"] == created["environmentId"]
    code, body = admin.call("PATCH", f"/api/v1/environment/{name}", {"name": "renamed"})
    assert code == 400 and "cannot be renamed" in body["message"]
    code, body = admin.call("PATCH", f"/api/v1/environment/{name}", {"colour": "blue"})
    assert code == 400 and "colour" in body["message"]

    code, body = admin.call("DELETE", f"/api/v1/environment/{name}")
    assert code == 200 and body["result"]["environmentId"] == created["environmentId"]
    code, body = admin.call("GET", f"/api/v1/environment/{name}")
    assert code == 404 and body["message"] == "Environment not found."
    assert admin.call("DELETE", f"/api/v1/environment/{name}")[0] == 404
    assert admin.call("PATCH", f"/api/v1/environment/{name}", {"dockerImage": "x"})[0] == 404


def test_users_read_but_do_not_write(hub, alice, unique):
    _, api = alice
    name = f"env-{unique}"
    for method, url, body in [
        ("POST", "/api/v1/environment", env_spec(name)),
        ("PATCH", "/api/v1/environment/notebook-env", {"dockerImage": "x"}),
        ("DELETE", "/api/v1/environment/notebook-env", None),
    ]:
        code, reply = api.call(method, url, body)
        assert code == 403 and "custom:submarine:environments" in reply["message"], reply
    assert (
        hub.admin.call("GET", "/api/v1/environment/notebook-env")[1]["result"]["environmentSpec"]["dockerImage"] != "x"
    )


def test_the_custom_scope_lets_a_user_write(hub, unique):
    name = f"gina-{unique}"
    hub.hub_api.post(f"/users/{name}")
    added = hub.hub_api.post("/groups/environment-admins/users", json={"users": [name]})
    assert added.status_code == 200, added.text
    api = Api(hub.direct, hub.user_token(name))
    code, body = api.call("POST", "/api/v1/environment", env_spec(f"env-{unique}"))
    assert code == 200, body
    assert api.call("DELETE", f"/api/v1/environment/env-{unique}")[0] == 200


def test_bad_environments(hub, unique):
    admin = hub.admin
    cases = [
        ({"dockerImage": "x"}, "name", "is required"),
        ({"name": f"e-{unique}"}, "dockerImage", "is required"),
        ({"name": "bad name", "dockerImage": "x"}, "name", "does not match"),
        ({"name": f"e-{unique}", "dockerImage": "has space"}, "dockerImage", "does not match"),
        (
            {"name": f"e-{unique}", "dockerImage": "x", "kernelSpec": {"name": "a b"}},
            "kernelSpec.name",
            "does not match",
        ),
        (
            {"name": f"e-{unique}", "dockerImage": "x", "kernelSpec": {"pipDependencies": "numpy"}},
            "kernelSpec.pipDependencies",
            "list",
        ),
        ({"name": f"e-{unique}", "dockerImage": "x", "extra": 1}, "extra", "not a known field"),
    ]
    for body, field, rule in cases:
        code, reply = admin.call("POST", "/api/v1/environment", body)
        assert code == 400 and field in reply["message"] and rule in reply["message"], reply
    names = {e["environmentSpec"]["name"] for e in admin.call("GET", "/api/v1/environment")[1]["result"]}
    assert f"e-{unique}" not in names


def test_notebooks_keep_their_environment_snapshot(hub, alice, unique, notebooks):
    _, api = alice
    name = f"snap-{unique}"
    assert hub.admin.call("POST", "/api/v1/environment", env_spec(name, image="first:1"))[0] == 200
    notebook_id = notebooks.create(api, "snapped", environment=name, resources="")["notebookId"]
    assert hub.admin.call("PATCH", f"/api/v1/environment/{name}", {"dockerImage": "second:2"})[0] == 200
    assert hub.admin.call("DELETE", f"/api/v1/environment/{name}")[0] == 200
    running = hub.wait_status(api, notebook_id, "running")
    assert running["spec"]["environment"]["dockerImage"] == "first:1"
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200
