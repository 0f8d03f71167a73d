"""The home page's spawn form: what it offers, the start request it makes, and its errors.

The pure parts (form fields to a request) are tested directly; the form itself through
a real hub, with the requests a browser sends (tests/browser/ drives a real browser).
"""

import html
import re

import pytest
import requests
from tornado import web

from submarine_spawner.form import gpu_choice, options_form, options_from_form, render_form
from submarine_spawner.resources import ResourcePolicy

from .fake_kube import new_spawner, run
from .harness import notebook_body, wait_for
from .helpers import ENVIRONMENT, login

NOTEBOOK_ID = re.compile(r"^notebook_\d{13}_\d{4,}$")


def form(**fields) -> dict[str, list[str]]:
    """Form data as the hub hands it over: every field a list of strings."""
    return {name: value if isinstance(value, list) else [value] for name, value in fields.items()}


# --- the form's fields to the seam ---------------------------------------------------------


def test_a_form_becomes_a_start_request():
    data = form(
        environment="notebook-env",
        cpu="0.5",
        memory="512Mi",
        gpus="1",
        env_name=["FIRST", "", "SECOND"],
        env_value=["1", "", "two words"],
    )
    assert options_from_form(data) == {
        "environment": {"name": "notebook-env"},
        "envVars": {"FIRST": "1", "SECOND": "two words"},
        "resources": "cpu=0.5,memory=512Mi,nvidia.com/gpu=1",
    }


def test_empty_fields_ask_for_nothing():
    request = options_from_form(form(environment="x", cpu="", memory="", gpus="0", env_name="", env_value=""))
    assert request == {"environment": {"name": "x"}, "envVars": {}, "resources": ""}


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"memory": "1.0Gx"}, "spec.resources: memory=1.0Gx: unit 'Gx' is not a memory unit"),
        ({"cpu": "1,memory=64Gi"}, "spec.resources: cpu=1,memory=64Gi: '1,memory=64Gi' is not a quantity"),
        ({"env_name": ["A", "A"], "env_value": ["1", "2"]}, "spec.envVars: 'A' is given more than once"),
        ({"environment": ""}, "environment.name: is required"),
    ],
)
def test_fields_the_form_alone_has_are_a_400_with_the_apis_words(fields, message):
    """What the form's fields cannot say; all else the admission checks, as for every door."""
    with pytest.raises(web.HTTPError) as error:
        options_from_form(form(**{"environment": "notebook-env", **fields}))
    assert error.value.status_code == 400
    assert error.value.jupyterhub_message.startswith(message)


@pytest.mark.parametrize(
    "policy,offered",
    [
        (ResourcePolicy(), 0),  # allowed, no cap
        (ResourcePolicy(max_extended={"nvidia.com/gpu": 2}), 2),
        (ResourcePolicy(max_extended={"nvidia.com/gpu": 0}), None),  # the embedded default: no GPUs
        (ResourcePolicy(extended_resources=[]), None),
    ],
)
def test_gpus_are_offered_only_where_allowed(policy, offered):
    assert gpu_choice(policy) == offered
    page = render_form([ENVIRONMENT], policy)
    assert ('name="gpus"' in page) is (offered is not None)
    assert ('max="2"' in page) is (offered == 2)


def test_the_form_lists_environments_and_caps_escaped():
    evil = {**ENVIRONMENT, "name": "evil", "description": "<script>alert(1)</script>"}
    page = render_form([ENVIRONMENT, evil], ResourcePolicy(max_cpu=2, max_memory=24684084 * 2**10))
    assert '<option value="notebook-env">notebook-env</option>' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "At most 2." in page and "At most 23.5Gi." in page
    for name in ("environment", "cpu", "memory", "env_name", "env_value"):
        assert f'name="{name}"' in page


def test_both_spawners_have_the_form(kube_api):
    from submarine_spawner import SubmarineLocalSpawner

    local = SubmarineLocalSpawner()
    assert (local.options_form, local.options_from_form) == (options_form, options_from_form)

    async def kube():
        # the form, not kubespawner's profile list
        spawner = new_spawner(kube_api, profile_list=[{"display_name": "small"}])
        return spawner.options_form, spawner.options_from_form

    assert run(kube) == (options_form, options_from_form)


# --- the form on a real hub --------------------------------------------------------------------


def spawn_page(hub, browser, owner, server):
    """The spawn page of a named server: (response, the form's action URL)."""
    page = browser.get(f"{hub.public}/hub/spawn/{owner}/{server}", timeout=30)
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    return page, html.unescape(action.group(1)) if action else None


def submit(hub, browser, owner, server, **fields):
    _, action = spawn_page(hub, browser, owner, server)
    return browser.post(hub.public + action, data=fields, timeout=60)


def error_on(page) -> str:
    match = re.search(r'class="spawn-error-msg[^"]*">Error: ([^<]*)<', page.text)
    return html.unescape(match.group(1)) if match else ""


@pytest.fixture
def frank(hub, unique):
    """A user logged in through the hub's form, as a browser: (name, session, API client)."""
    name = f"frank-{unique}"
    return name, login(hub, name, "user-password"), hub.client(name)


def test_the_form_lists_the_environment_api(hub, frank, unique):
    owner, browser, _ = frank
    environment = f"team-env-{unique}"
    assert (
        hub.admin.call("POST", "/api/v1/environment", {"name": environment, "dockerImage": "example/image:1"})[0]
        == 200
    )
    page, action = spawn_page(hub, browser, owner, "listed")
    assert page.status_code == 200 and action
    assert f'<option value="{environment}">' in page.text and '<option value="notebook-env">' in page.text
    assert 'name="gpus"' not in page.text  # the embedded default has no GPUs to give
    assert hub.admin.call("DELETE", f"/api/v1/environment/{environment}")[0] == 200
    assert f'<option value="{environment}">' not in spawn_page(hub, browser, owner, "listed")[0].text


def test_a_bad_form_shows_the_apis_message(hub, frank):
    owner, browser, api = frank
    cases = [
        ({"memory": "1.0Gx"}, {"resources": "memory=1.0Gx"}),
        ({"env_name": "JUPYTERHUB_API_TOKEN", "env_value": "x"}, {"env_vars": {"JUPYTERHUB_API_TOKEN": "x"}}),
        ({"environment": "no-such-env"}, {"environment": "no-such-env"}),
    ]
    for fields, request in cases:
        code, body = api.call("POST", "/api/v1/notebook", notebook_body("bad", **request))
        assert code in (400, 404), body
        page = submit(hub, browser, owner, "bad", **{"environment": "notebook-env", **fields})
        assert page.status_code == code
        assert error_on(page) == body["message"]
        assert 'name="environment"' in page.text  # the form again, to correct
    assert api.call("GET", "/api/v1/notebook")[1]["result"] == []


def test_a_server_from_the_form_is_a_notebook_and_starts_again_as_one(hub, frank, notebooks):
    owner, browser, api = frank
    notebooks.track_owner(api, owner)
    page = submit(
        hub,
        browser,
        owner,
        "from-form",
        environment="notebook-env",
        cpu="0.5",
        env_name=["FROM", ""],
        env_value=["form", ""],
    )
    assert page.status_code == 200 and "/hub/spawn-pending/" in page.url
    notebook = wait_for(
        lambda: next(iter(api.call("GET", "/api/v1/notebook")[1]["result"]), None),
        30,
        what="the form's server to show up in the API",
    )
    assert NOTEBOOK_ID.match(notebook["notebookId"]) and notebook["name"] == "from-form"
    environment = api.call("GET", "/api/v1/environment/notebook-env")[1]["result"]["environmentSpec"]
    assert notebook["spec"] == {
        "meta": {"name": "from-form", "namespace": "default", "ownerId": owner},
        "environment": environment,
        "spec": {"envVars": {"FROM": "form"}, "resources": "cpu=0.5"},
    }
    hub.wait_status(api, notebook["notebookId"], "running")
    # the hub's own form fields need nothing more: its options are the notebook's
    assert hub.hub_user(owner)["servers"]["from-form"]["user_options"]["notebookId"] == notebook["notebookId"]

    # stopped on the hub, started again from the home page's link: no form, the same notebook
    assert hub.hub_api.delete(f"/users/{owner}/servers/from-form").status_code in (202, 204)
    hub.wait_status(api, notebook["notebookId"], "stopped")
    again = browser.get(f"{hub.public}/hub/spawn/{owner}/from-form", timeout=60)
    assert 'name="environment"' not in again.text
    hub.wait_status(api, notebook["notebookId"], "running")
    assert hub.hub_user(owner)["servers"]["from-form"]["user_options"]["notebookId"] == notebook["notebookId"]
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] == 200


def test_query_arguments_start_a_notebook_too(hub, frank, notebooks):
    owner, browser, api = frank
    notebooks.track_owner(api, owner)
    started = browser.get(
        f"{hub.public}/hub/spawn/{owner}/by-link?opt-environment=notebook-env&opt-memory=512Mi", timeout=60
    )
    assert "/hub/spawn-pending/" in started.url
    notebook = wait_for(
        lambda: next(iter(api.call("GET", "/api/v1/notebook")[1]["result"]), None),
        30,
        what="the linked server to show up in the API",
    )
    assert notebook["spec"]["spec"] == {"envVars": {}, "resources": "memory=512Mi"}
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] == 200


def test_the_home_page_says_what_each_notebook_runs(hub, frank, notebooks):
    owner, browser, api = frank
    notebook_id = notebooks.create(api, "on-home", resources="cpu=0.5,memory=512Mi")["notebookId"]
    page = browser.get(f"{hub.public}/hub/home", timeout=30)
    assert page.status_code == 200
    line = re.search(r'text-muted" data-server-name="on-home">(.*?)</small>', page.text, re.S).group(1)
    assert line.startswith('notebook-env &middot; cpu=0.5,memory=512Mi &middot; <span class="submarine-status">')
    assert re.search(r'submarine-status">(creating|running)</span>', line) and "restart pending" not in line
    assert 'class="new-server-name' in page.text  # the stock page around it
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200
    wait_for(
        lambda: 'data-server-name="on-home"' not in browser.get(f"{hub.public}/hub/home", timeout=30).text,
        30,
        what="the deleted notebook to leave the home page",
    )


def test_the_spawners_token_reads_and_changes_nothing(hub, alice):
    """It reads environments (the spawn form) and an owner's notebooks (the home page), and asks
    for admissions and reports (test_isolation.py); nothing more."""
    owner, api = alice
    token = (hub.data_dir / "spawner-token").read_text().strip()
    headers = {"Authorization": f"token {token}"}
    assert requests.get(hub.direct + "/api/v1/environment", headers=headers, timeout=30).status_code == 200
    listed = requests.get(f"{hub.direct}/api/v1/notebook?id={owner}", headers=headers, timeout=30)
    assert listed.status_code == 200 and listed.json()["result"] == []
    for method, url, body in [
        ("POST", "/api/v1/environment", {"name": "x", "dockerImage": "x"}),
        ("POST", "/api/v1/notebook", notebook_body("x", owner, resources="")),
    ]:
        response = requests.request(method, hub.direct + url, headers=headers, json=body, timeout=30)
        assert response.status_code == 403, (url, response.text)
    assert requests.get(hub.public + "/hub/api/users", headers=headers, timeout=30).status_code == 403
