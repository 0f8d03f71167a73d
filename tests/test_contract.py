"""The contract (a start request in, an admitted spec out) and the API's request model:
pure validation and translation."""

import pytest

from hub_service import specs, statuses
from hub_service.api.base import envelope
from hub_service.errors import ApiError
from hub_service.rows import server_name
from submarine_spawner.contract import (
    REQUEST_FIELDS,
    AdmittedSpec,
    EnvironmentSpec,
    PodFields,
    StartRequest,
    admitted,
    notebook_spec,
)
from submarine_spawner.resources import ResourcePolicy

from .helpers import ENVIRONMENT

REQUEST = {
    "environment": {"name": "notebook-env"},
    "namespace": "default",
    "envVars": {"TEST_ENV": "test"},
    "resources": "cpu=1,memory=1.0Gi",
}
SPEC = notebook_spec(
    "test-nb",
    "e9ca23d68d884d4ebb19d07889727dae",
    "default",
    ENVIRONMENT,
    {"envVars": {"TEST_ENV": "test"}, "resources": "cpu=1,memory=1.0Gi"},
)


def request(options, policy=None):
    return specs.validate(StartRequest, options, {"policy": policy}, prefix="user_options", names=REQUEST_FIELDS)


def test_a_request_names_its_environment_only():
    """An image, a kernelSpec or an id a client sends is never read."""
    sent = {
        **REQUEST,
        "notebookId": "notebook_1_0001",
        "environment": {"name": "notebook-env", "dockerImage": "evil/image", "kernelSpec": {"name": "x"}},
    }
    asked = request(sent)
    assert asked.environment.model_dump() == {"name": "notebook-env"}
    assert asked.envVars == {"TEST_ENV": "test"} and asked.resources == "cpu=1,memory=1.0Gi"


@pytest.mark.parametrize(
    "change,words",
    [
        ({"envVars": {"JUPYTERHUB_USER": "x"}}, "'JUPYTERHUB_USER' is reserved"),
        ({"envVars": {"PATH": "/evil"}}, "'PATH' is reserved"),
        ({"envVars": {"X" * 120_000: "1"}}, "longer than 128 characters"),
        ({"resources": "cpu=lots"}, "spec.resources: cpu=lots"),
        ({"resources": "cpu=8"}, "over this hub's cap of 2"),
        ({"namespace": "Kube System"}, "meta.namespace: 'Kube System' does not match"),
        ({"surprise": 1}, "user_options.surprise: is not a known field"),
    ],
)
def test_a_request_is_refused_with_the_field_and_the_rule(change, words):
    with pytest.raises(ApiError) as caught:
        request({**REQUEST, **change}, ResourcePolicy(max_cpu=2))
    assert caught.value.code == 400 and words in caught.value.message


def test_the_admitted_spec_of_a_notebook_and_what_the_hub_keeps():
    spec = admitted("notebook_1626160071451_0001", SPEC)
    assert spec.model_dump() == {
        "notebookId": "notebook_1626160071451_0001",
        "namespace": "default",
        "environment": EnvironmentSpec.model_validate(ENVIRONMENT).model_dump(),
        "envVars": {"TEST_ENV": "test"},
        "resources": "cpu=1,memory=1.0Gi",
        "volumes": [],
    }
    # the hub keeps the request: sent again, it asks for the same notebook
    assert spec.user_options() == {**REQUEST, "notebookId": "notebook_1626160071451_0001"}
    assert request(spec.user_options()).environment.name == "notebook-env"
    assert AdmittedSpec(namespace="default").user_options() == {}


def test_every_field_a_notebook_asks_for_reaches_the_spawners_and_the_api():
    """A new PodFields field needs only its line in AdmittedSpec (unchecked) besides its own."""
    for model in (AdmittedSpec, StartRequest, specs.NotebookPodSpec, specs.PodSpecPatch):
        assert set(PodFields.model_fields) <= set(model.model_fields), model


@pytest.mark.parametrize("name", [".", ".."])
def test_a_kernel_name_is_never_a_directory_name(name):
    with pytest.raises(ApiError, match="is not a kernel name"):
        specs.validate(specs.EnvironmentSpec, {**ENVIRONMENT, "kernelSpec": {"name": name}})


@pytest.mark.parametrize("name", ["test-nb", "a", "a1", "x" * 30])
def test_short_names_are_their_own_server_name(name):
    assert server_name(name) == name


@pytest.mark.parametrize("name", ["x" * 31, "a" * 63, "double--dash", "a-notebook-name-that-goes-on-and-on"])
def test_other_names_get_a_stable_valid_server_name(name):
    derived = server_name(name)
    assert derived == server_name(name) and derived != name
    assert len(derived) <= 30 and "--" not in derived and derived[0].isalpha()
    assert server_name(name + "x") != derived


def test_request_folds_resource_fields():
    request = specs.validate(
        specs.NotebookRequest,
        {
            "meta": {"name": "nb"},
            "environment": {"name": "notebook-env", "dockerImage": "ignored"},
            "spec": {"resources": "cpu=1", "memory": "2Gi", "gpu": "1"},
        },
    )
    assert request.spec.resources == "cpu=1,memory=2Gi,nvidia.com/gpu=1"


def test_request_errors_name_every_field():
    with pytest.raises(ApiError) as caught:
        specs.validate(specs.NotebookRequest, {"meta": {"name": "Bad"}, "spec": {"envVars": {"9": "x"}}})
    message = caught.value.message
    assert caught.value.code == 400
    assert "meta.name: 'Bad' does not match" in message
    assert "environment: is required" in message
    assert "spec.envVars: '9' is not a valid variable name" in message


def test_envelope_names_statuses_as_jax_rs_does():
    assert envelope(200, "m", [1])["status"] == "OK"
    for code, name in [
        (400, "BAD_REQUEST"),
        (401, "UNAUTHORIZED"),
        (403, "FORBIDDEN"),
        (404, "NOT_FOUND"),
        (409, "CONFLICT"),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        (429, "TOO_MANY_REQUESTS"),
        (500, "INTERNAL_SERVER_ERROR"),
        (503, "SERVICE_UNAVAILABLE"),
    ]:
        body = envelope(code, "why")
        assert body == {
            "status": name,
            "code": code,
            "success": False,
            "message": "why",
            "result": None,
            "attributes": {},
        }


@pytest.mark.parametrize(
    "server,current,expected",
    [
        ({"ready": True}, "creating", ("running", "The notebook instance is running")),
        ({"ready": True}, "running", None),
        ({"ready": False, "pending": "spawn"}, "waiting", None),
        ({"ready": False, "pending": "spawn"}, "stopped", ("creating", "The notebook instance is creating")),
        ({"ready": False, "pending": "stop"}, "running", ("terminating", "The notebook instance is stopping")),
        ({"ready": False, "pending": None}, "running", ("stopped", "The notebook instance is stopped")),
        ({"ready": False, "pending": None}, "failed", None),
        (
            {"ready": False, "pending": None, "state": {"last_exit": {"status": 1, "message": "exit status 1"}}},
            "running",
            ("failed", "The notebook server exited unexpectedly (exit status 1)"),
        ),
    ],
)
def test_status_from_the_hubs_server_model(server, current, expected):
    assert statuses.from_server(server, current) == expected
