"""Bad input: a 4xx envelope whose message names the field and the rule, and nothing made."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .harness import notebook_body


def assert_error(code, body, status, *words):
    assert code == status, body
    assert body["code"] == status and body["success"] is False and body["result"] is None
    assert body["status"] and body["attributes"] == {}
    for word in words:
        assert word in body["message"], body["message"]


def assert_nothing_made(hub, api, owner):
    code, body = api.call("GET", "/api/v1/notebook")
    assert code == 200 and body["result"] == [], body
    user = hub.hub_user(owner)
    assert user is None or set(user["servers"]) <= {""}, user  # '' is the default server


def with_(path, value, name="bad-nb"):
    """The seed's body with one field replaced (or removed, for value=...)."""
    body = notebook_body(name)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


BAD_BODIES = [
    (with_("meta", ...), "meta", "is required"),
    (with_("meta.name", ...), "meta.name", "is required"),
    (with_("environment", ...), "environment", "is required"),
    (with_("environment.name", ...), "environment.name", "is required"),
    (with_("meta.name", "Test-NB"), "meta.name", "does not match"),
    (with_("meta.name", "1nb"), "meta.name", "does not match"),
    (with_("meta.name", "nb-"), "meta.name", "does not match"),
    (with_("meta.name", "nb_1"), "meta.name", "does not match"),
    (with_("meta.name", "n" * 64), "meta.name", "at most 63"),
    (with_("meta.name", 7), "meta.name", "string"),
    (with_("meta.namespace", "kube-system"), "meta.namespace", "not allowed"),
    (with_("spec.resources", "cpu=abc"), "spec.resources", "not a quantity"),
    (with_("spec.resources", "cpu"), "spec.resources", "key=value"),
    (with_("spec.resources", "memory=1.0Gx"), "spec.resources", "not a memory unit"),
    (with_("spec.resources", "cpu=-1"), "spec.resources", "negative"),
    (with_("spec.resources", "memory=-1Gi"), "spec.resources", "negative"),
    (with_("spec.resources", "disk=10Gi"), "spec.resources", "not a known resource"),
    (with_("spec.resources", "cpu=1,cpu=2"), "spec.resources", "more than once"),
    (with_("spec.resources", "nvidia.com/gpu=0.5"), "spec.resources", "whole number"),
    (with_("spec.resources", "cpu=100000"), "spec.resources", "cap"),
    (with_("spec.resources", "memory=100000Ti"), "spec.resources", "cap"),
    (with_("spec.resources", "nvidia.com/gpu=1"), "spec.resources", "cap of 0"),
    (with_("spec.envVars", {"1BAD": "x"}), "spec.envVars", "not a valid variable name"),
    (with_("spec.envVars", {"A-B": "x"}), "spec.envVars", "not a valid variable name"),
    (with_("spec.envVars", {"JUPYTERHUB_API_TOKEN": "x"}), "spec.envVars", "reserved"),
    (with_("spec.envVars", {"JPY_API_TOKEN": "x"}), "spec.envVars", "reserved"),
    (with_("spec.envVars", {"MEM_LIMIT": "1"}), "spec.envVars", "reserved"),
    (with_("spec.envVars", {"CPU_LIMIT": "1"}), "spec.envVars", "reserved"),
    (with_("spec.envVars", {"X": "a\u0000b"}), "spec.envVars", "NUL"),
    (with_("spec.envVars", {"X": 1}), "spec.envVars.X", "string"),
    (with_("spec.envVars", ["X=1"]), "spec.envVars", "dictionary"),
    (with_("spec.cpu", "2"), "cpu '2' disagrees", "cpu=1"),
    (with_("meta.ownerId", "Not A User"), "meta.ownerId", "does not match"),
    (with_("meta.ownerId", "ali\u200bce"), "meta.ownerId", "does not match"),  # zero-width space
    (with_("meta.ownerId", "\u202eecila"), "meta.ownerId", "does not match"),  # right-to-left override
    (with_("meta.ownerId", "\u0430lice"), "meta.ownerId", "does not match"),  # Cyrillic a
    (with_("meta.ownerId", "\u00e9" * 200), "meta.ownerId", "does not match"),
    (with_("spec.envVars", {"X" * 120_000: "1"}), "spec.envVars", "longer than 128 characters"),
    (with_("meta.labels", {"team": "a b"}), "meta.labels", "does not match"),
]


@pytest.mark.parametrize("body,field,rule", BAD_BODIES, ids=[f"{f}:{r}" for _, f, r in BAD_BODIES])
def test_bad_notebook_is_refused_and_leaves_nothing(hub, alice, body, field, rule):
    owner, api = alice
    code, reply = api.call("POST", "/api/v1/notebook", body)
    assert_error(code, reply, 400, field, rule)
    assert_nothing_made(hub, api, owner)


def test_unknown_environment(hub, alice):
    owner, api = alice
    code, body = api.call("POST", "/api/v1/notebook", with_("environment.name", "no-such-env"))
    assert_error(code, body, 404, "Environment not found.")
    assert body["message"] == "Environment not found."
    assert_nothing_made(hub, api, owner)


@pytest.mark.parametrize(
    "data,content_type,status,words",
    [
        ("{not json", "application/json", 400, ["not valid JSON"]),
        ("", "application/json", 400, ["empty"]),
        ("[1, 2]", "application/json", 400, ["JSON object"]),
        ("null", "application/json", 400, ["JSON object"]),
        ('"text"', "application/json", 400, ["JSON object"]),
        (b"\xff\xfe", "application/json", 400, ["UTF-8"]),
        ("meta=1", "application/x-www-form-urlencoded", 415, ["Content-Type", "application/json"]),
        ("{}", "text/plain", 415, ["Content-Type"]),
        ("{}", None, 415, ["Content-Type"]),
        ("meta: [unclosed", "application/yaml", 400, ["not valid YAML"]),
    ],
)
def test_malformed_requests(hub, alice, data, content_type, status, words):
    owner, api = alice
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post("/api/v1/notebook", data=data, headers=headers)
    assert response.headers["Content-Type"].startswith("application/json")
    assert_error(response.status_code, response.json(), status, *words)
    assert_nothing_made(hub, api, owner)


@pytest.mark.parametrize(
    "data,content_type,status,words",
    [
        ("a: " + "x" * 600_000, "application/yaml", 413, ["larger than 256 KiB"]),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400, ["nests deeper than 32 levels"]),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
                f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
                for i in range(8)
            ),
            "application/yaml",
            400,
            ["more than 20000 values"],
        ),
    ],
)
def test_bodies_too_big_or_too_deep_are_refused(hub, alice, data, content_type, status, words):
    """Parsed off the event loop, within a size, a depth and a value budget (YAML aliases count
    each time they are reached)."""
    owner, api = alice
    response = api.post("/api/v1/notebook", data=data, headers={"Content-Type": content_type})
    assert_error(response.status_code, response.json(), status, *words)
    assert_nothing_made(hub, api, owner)


@pytest.mark.parametrize(
    "kernel_spec,words",
    [
        ({"name": ".."}, "kernelSpec.name: '..' is not a kernel name"),
        (
            {"name": "py3", "pipDependencies": ["x-0.1-py3-none-any.whl"]},
            "a file name (pip would install a local file)",
        ),
    ],
)
def test_environments_that_would_escape_are_refused(hub, unique, kernel_spec, words):
    code, body = hub.admin.call(
        "POST", "/api/v1/environment", {"name": f"escape-{unique}", "dockerImage": "img", "kernelSpec": kernel_spec}
    )
    assert_error(code, body, 400, words)


def test_yaml_is_accepted_as_submarine_does(hub, alice, notebooks):
    owner, api = alice
    body = notebook_body("from-yaml")
    response = api.post("/api/v1/notebook", data=json.dumps(body), headers={"Content-Type": "application/yaml"})
    assert response.status_code == 200, response.text
    notebook_id = notebooks.track(api, response.json()["result"]["notebookId"])
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_same_owner_same_name_conflicts(hub, alice, notebooks):
    owner, api = alice
    notebooks.create(api, "twice", resources="")
    code, again = api.call("POST", "/api/v1/notebook", notebook_body("twice", resources=""))
    assert_error(code, again, 409, "already has a notebook named 'twice'")
    code, listed = api.call("GET", "/api/v1/notebook")
    assert len(listed["result"]) == 1


def test_concurrent_creates_of_one_name_exactly_one_wins(hub, alice, notebooks):
    owner, api = alice
    notebooks.track_owner(api, owner)
    with ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda _: api.call("POST", "/api/v1/notebook", notebook_body("race", resources="")), range(8))
        )
    codes = sorted(code for code, _ in replies)
    assert codes == [200] + [409] * 7, replies
    code, listed = api.call("GET", "/api/v1/notebook")
    assert len(listed["result"]) == 1
    assert set(hub.hub_user(owner)["servers"]) - {""} == {"race"}


def test_server_made_outside_the_api_conflicts(hub, alice, request):
    owner, api = alice
    made = hub.hub_api.put(f"/users/{owner}/servers/handmade", json={})
    request.addfinalizer(lambda: hub.hub_api.delete(f"/users/{owner}/servers/handmade", json={"remove": True}))
    assert made.status_code == 201, made.text
    code, body = api.call("POST", "/api/v1/notebook", notebook_body("handmade", resources=""))
    assert_error(code, body, 409, "handmade")
    assert set(hub.hub_user(owner)["servers"]) - {""} == {"handmade"}


def test_unknown_ids_and_paths(hub, alice):
    _, api = alice
    code, body = api.call("GET", "/api/v1/notebook/notebook_1_0001")
    assert_error(code, body, 404, "Notebook not found.")
    code, body = api.call("DELETE", "/api/v1/notebook/notebook_1_0001")
    assert_error(code, body, 404, "Notebook not found.")
    code, body = api.call("GET", "/api/v1/nothing-here")
    assert_error(code, body, 404, "No such endpoint")
    code, body = api.call("PUT", "/api/v1/notebook")
    assert_error(code, body, 405)
    for query, words in [
        ("limit=0", ["limit"]),
        ("limit=x", ["limit", "whole number"]),
        ("offset=-1", ["offset"]),
        ("status=sleeping", ["status", "sleeping"]),
    ]:
        code, body = api.call("GET", f"/api/v1/notebook?{query}")
        assert_error(code, body, 400, *words)


def test_errors_are_never_html_or_tracebacks(hub):
    for url in ("/api/v1/notebook", "/api/v1/environment/x", "/nowhere", "/api/v1/notebook/%ff"):
        response = requests.get(hub.direct + url, timeout=10)
        assert response.headers["Content-Type"].startswith("application/json"), url
        assert response.json()["code"] == response.status_code
        assert "Traceback" not in response.text


def test_refused_create_for_a_new_owner_makes_no_user(hub, unique):
    owner = f"dave-{unique}"
    body = notebook_body("nb", owner, resources="cpu=-1")
    code, reply = hub.admin.call("POST", "/api/v1/notebook", body)
    assert_error(code, reply, 400, "negative")
    assert hub.hub_user(owner) is None
