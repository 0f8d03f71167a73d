"""Environments that really build, end to end: a real hub, pip, JupyterLab and kernel.

The hub here allows pip URLs (``c.KernelSpecPolicy.allow_pip_urls``, through
SUBMARINE_ALLOW_PIP_URLS) so a test's own wheel can be a dependency, and pip uses
no index (PIP_NO_INDEX): nothing is downloaded. No conda, mamba or micromamba is
on its PATH.
"""

import fcntl
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from submarine_spawner.builds import CONDA_PROGRAMS, build_key
from submarine_spawner.contract import KernelSpec

from .harness import Api, Hub, wait_for
from .helpers import hub_start
from .lab import lab, run_in_kernel
from .wheels import make_wheel, requirement

HOSTILE = [
    "pkg; touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "pkg\ntouch {marker}",
    "-r /etc/passwd",
    "--index-url=https://evil.example/simple",
]


def path_without_conda() -> str:
    return os.pathsep.join(
        directory
        for directory in os.environ["PATH"].split(os.pathsep)
        if not any(os.path.exists(os.path.join(directory, name)) for name in CONDA_PROGRAMS)
    )


@pytest.fixture(scope="module")
def build_hub(tmp_path_factory):
    hub = Hub(
        tmp_path_factory.mktemp("build-hub"), SUBMARINE_ALLOW_PIP_URLS="1", PIP_NO_INDEX="1", PATH=path_without_conda()
    ).start()
    yield hub
    hub.stop()


def kernel_spec(name="team_py3", pip=(), conda=()):
    return {"name": name, "channels": ["defaults"], "condaDependencies": list(conda), "pipDependencies": list(pip)}


def make_environment(hub, name, spec):
    code, body = hub.admin.call(
        "POST", "/api/v1/environment", {"name": name, "dockerImage": "python:3.11-slim", "kernelSpec": spec}
    )
    assert code == 200, body


def build_log(hub, spec) -> str:
    key = build_key(KernelSpec.model_validate(spec, context={"allow_pip_urls": True}))
    return (hub.data_dir / "environments" / f"{key}.log").read_text()


def create_in(notebooks, api, name, environment, **fields) -> str:
    """The id of a notebook of ``environment`` (no resources asked), made and tracked."""
    return notebooks.create(api, name, environment=environment, resources="", **fields)["notebookId"]


def progress_events(hub, owner, server):
    """The hub's progress stream of a pending spawn, event by event, as its spawn page reads it."""
    with hub.hub_api.get(f"/users/{owner}/servers/{server}/progress", stream=True, timeout=300) as response:
        assert response.status_code == 200, response.text
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                yield json.loads(line[len("data:") :])


def test_a_notebook_runs_code_in_its_environments_kernel(build_hub, tmp_path, unique, notebooks):
    owner = f"ada-{unique}"
    token = build_hub.user_token(owner)
    api = Api(build_hub.direct, token)
    wheel = make_wheel(tmp_path, f"teampkg_{unique}", source="GREETING = 'hello from the environment'\n")
    spec = kernel_spec(pip=[requirement(wheel)])
    environment = f"team-{unique}"
    make_environment(build_hub, environment, spec)

    notebook_id = create_in(notebooks, api, "analysis", environment, env_vars={"TEST_ENV": "from the notebook"})
    build_hub.wait_status(api, notebook_id, "running", timeout=300)

    kernelspecs = lab(build_hub, owner, "analysis", token).get("/api/kernelspecs").json()
    assert kernelspecs["default"] == "team_py3"
    assert kernelspecs["kernelspecs"]["team_py3"]["spec"]["display_name"] == environment
    output = run_in_kernel(
        build_hub,
        owner,
        "analysis",
        token,
        "team_py3",
        (
            f"import os, sys, teampkg_{unique}\n"
            f"print(teampkg_{unique}.GREETING, os.environ['TEST_ENV'], sys.prefix, sep='\\n')"
        ),
    )
    greeting, env_value, prefix = output.splitlines()
    assert greeting == "hello from the environment" and env_value == "from the notebook"
    assert prefix.startswith(str(build_hub.data_dir / "environments"))
    # the build's output is kept beside the environment
    assert f"Successfully installed teampkg_{unique}-1.0" in build_log(build_hub, spec)
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_an_environment_without_dependencies_runs_on_the_hubs_python(build_hub, unique, notebooks):
    owner = f"bo-{unique}"
    token = build_hub.user_token(owner)
    api = Api(build_hub.direct, token)
    running = notebooks.create_running(build_hub, api, "plain", environment="notebook-env", resources="")
    notebook_id = running["notebookId"]
    kernelspecs = lab(build_hub, owner, "plain", token).get("/api/kernelspecs").json()
    assert kernelspecs["default"] == "submarine_jupyter_py3"
    assert kernelspecs["kernelspecs"]["submarine_jupyter_py3"]["spec"]["display_name"] == "notebook-env"
    output = run_in_kernel(
        build_hub,
        owner,
        "plain",
        token,
        "submarine_jupyter_py3",
        "import os, sys; print(sys.executable, os.environ['TEST_ENV'])",
    )
    assert output.split() == [sys.executable, "test"]  # no build: the hub's own Python
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_progress_says_what_the_build_does_and_waits_for_another_hub(build_hub, tmp_path, unique, notebooks):
    owner = f"cy-{unique}"
    api = Api(build_hub.direct, build_hub.user_token(owner))
    spec = kernel_spec(pip=[requirement(make_wheel(tmp_path, f"slowpkg_{unique}"))])
    environment = f"watched-{unique}"
    make_environment(build_hub, environment, spec)
    key = build_key(KernelSpec.model_validate(spec, context={"allow_pip_urls": True}))
    (build_hub.data_dir / "environments").mkdir(exist_ok=True)
    # this test is "another hub process" building the same environment: the hub waits for it
    with open(build_hub.data_dir / "environments" / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        notebook_id = create_in(notebooks, api, "watched", environment)
        waiting = f"Waiting for another hub process building environment {environment} ..."
        # the API's reason is the latest progress message
        wait_for(
            lambda: api.call("GET", f"/api/v1/notebook/{notebook_id}")[1]["result"]["reason"] == waiting,
            60,
            what="the reason to say the build waits",
        )
        assert api.call("GET", f"/api/v1/notebook/{notebook_id}")[1]["result"]["status"] == "creating"
        messages = []
        for event in progress_events(build_hub, owner, "watched"):
            messages.append(event.get("message"))
            if event.get("message") == waiting:
                fcntl.flock(lock, fcntl.LOCK_UN)
            if event.get("ready") or event.get("failed"):
                break
    assert messages[-1].startswith("Server ready"), messages
    assert {
        f"Creating a virtual environment for environment {environment} ...",
        f"Installing 1 pip dependencies for environment {environment} ...",
    } <= set(messages), messages
    assert any(message.startswith("Starting JupyterLab locally") for message in messages), messages
    build_hub.wait_status(api, notebook_id, "running")
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_notebooks_of_one_environment_share_one_build(build_hub, tmp_path, unique, notebooks):
    owner = f"di-{unique}"
    token = build_hub.user_token(owner)
    api = Api(build_hub.direct, token)
    spec = kernel_spec(name="shared", pip=[requirement(make_wheel(tmp_path, f"sharedpkg_{unique}"))])
    environment = f"shared-{unique}"
    make_environment(build_hub, environment, spec)

    # three at once: one build, which all three wait for
    with ThreadPoolExecutor(3) as pool:
        notebook_ids = list(
            pool.map(lambda name: create_in(notebooks, api, name, environment), ["one", "two", "three"])
        )
    for notebook_id in notebook_ids:
        build_hub.wait_status(api, notebook_id, "running", timeout=300)
    assert build_log(build_hub, spec).count("--- built\n") == 1

    # and later ones find it built
    later = create_in(notebooks, api, "four", environment)
    running = build_hub.wait_status(api, later, "running")
    assert build_log(build_hub, spec).count(" building environment ") == 1
    assert running["status"] == "running"
    prefixes = {
        run_in_kernel(build_hub, owner, name, token, "shared", "import sys; print(sys.prefix)").strip()
        for name in ["one", "four"]
    }
    assert len(prefixes) == 1
    for notebook_id in [*notebook_ids, later]:
        assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_a_failing_build_fails_the_notebook_and_is_not_kept(build_hub, unique, notebooks):
    owner = f"ed-{unique}"
    api = Api(build_hub.direct, build_hub.user_token(owner))
    spec = kernel_spec(pip=[f"no-such-package-{unique}"])
    environment = f"broken-{unique}"
    make_environment(build_hub, environment, spec)
    key = build_key(KernelSpec.model_validate(spec))
    for attempt in (1, 2):  # a failed build is not cached: the second start tries again
        notebook_id = create_in(notebooks, api, f"broken-{attempt}", environment)
        failed = build_hub.wait_status(api, notebook_id, "failed", timeout=300)
        reason = failed["reason"]
        assert f"Installing 1 pip dependencies for environment {environment} failed (exit status 1): " in reason, (
            reason
        )
        assert f"No matching distribution found for no-such-package-{unique}" in reason, reason
        assert str(build_hub.data_dir / "environments" / f"{key}.log") in reason, reason
        assert not (build_hub.data_dir / "environments" / key).exists()
        assert build_log(build_hub, spec).count(" building environment ") == attempt
        assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_conda_dependencies_without_conda_fail_saying_so(build_hub, unique, notebooks):
    owner = f"fa-{unique}"
    api = Api(build_hub.direct, build_hub.user_token(owner))
    environment = f"conda-{unique}"
    make_environment(build_hub, environment, kernel_spec(conda=["numpy>=1.24"]))
    notebook_id = create_in(notebooks, api, "needs-conda", environment)
    failed = build_hub.wait_status(api, notebook_id, "failed")
    # the start fails at once: the reason is the hub's answer to the start, or its progress event
    assert failed["reason"].endswith(
        f"Environment {environment} has conda dependencies, and the hub has no conda: none of "
        "conda, mamba, micromamba is on the hub's PATH (SubmarineLocalSpawner.conda_path)"
    ), failed["reason"]
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_dependencies_are_refused_and_never_run(build_hub, tmp_path, unique, hostile, notebooks):
    marker = tmp_path / "x"
    entry = hostile.format(marker=marker)
    admin = build_hub.admin
    name = f"hostile-{unique}"
    make_environment(build_hub, name, kernel_spec())
    for field in ("pipDependencies", "condaDependencies", "channels"):
        spec = {**kernel_spec(), field: ["numpy" if field != "channels" else "defaults", entry]}
        code, body = admin.call(
            "POST", "/api/v1/environment", {"name": f"{name}-new", "dockerImage": "img", "kernelSpec": spec}
        )
        assert code == 400, body
        assert f"kernelSpec.{field}.1: " in body["message"] and repr(entry) in body["message"], body
        assert "expected" in body["message"] or "is not" in body["message"], body
        code, body = admin.call("PATCH", f"/api/v1/environment/{name}", {"kernelSpec": spec})
        assert code == 400 and f"kernelSpec.{field}.1: " in body["message"], body

    # a start straight at the hub with the entry in its user_options: the kernelSpec a client
    # sends is never read; the notebook gets the catalogue's environment of that name
    owner = f"gi-{unique}"
    token = build_hub.user_token(owner)
    options = {
        "notebookId": f"notebook_1_{unique}",
        "environment": {"name": name, "dockerImage": "img", "kernelSpec": kernel_spec(pip=[entry])},
    }
    api = Api(build_hub.direct, token)
    notebooks.track_owner(api, owner)
    code, message = hub_start(build_hub, owner, token, "direct", options)
    assert code in (201, 202), message
    (notebook,) = api.call("GET", "/api/v1/notebook")[1]["result"]
    assert notebook["notebookId"] != options["notebookId"]
    assert notebook["spec"]["environment"]["kernelSpec"] == kernel_spec()
    assert notebook["spec"]["environment"]["dockerImage"] != "img"
    build_hub.wait_status(api, notebook["notebookId"], "running")
    assert api.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] == 200
    assert not marker.exists()
    assert (
        build_hub.admin.call("GET", f"/api/v1/environment/{name}")[1]["result"]["environmentSpec"]["kernelSpec"]
        == kernel_spec()
    )


def test_pip_urls_need_the_admin_setting(hub, build_hub, unique):
    spec = kernel_spec(pip=["mypkg @ https://example.org/mypkg-1.0-py3-none-any.whl"])
    body = {"name": f"urls-{unique}", "dockerImage": "img", "kernelSpec": spec}
    code, reply = hub.admin.call("POST", "/api/v1/environment", body)  # the default: not allowed
    assert code == 400, reply
    assert reply["message"] == (
        "kernelSpec.pipDependencies.0: pip dependency 'mypkg @ https://example.org/"
        "mypkg-1.0-py3-none-any.whl': URLs are not allowed on this hub (expected a PEP 508 "
        "requirement such as pandas, numpy>=1.26 or requests[socks]==2.32.3)"
    )
    assert build_hub.admin.call("POST", "/api/v1/environment", body)[0] == 200
