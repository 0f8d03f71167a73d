"""The seam model (user_options) and the API's request model: pure validation."""

import pytest

from hub_service import specs, statuses
from hub_service.envelope import ApiError, envelope
from hub_service.records import server_name
from submarine_spawner.options import parse_options
from submarine_spawner.resources import ResourcePolicy

ENVIRONMENT = {"name": "notebook-env", "dockerImage": "apache/submarine:jupyter-notebook-0.8.0",
               "kernelSpec": {"name": "submarine_jupyter_py3", "channels": ["defaults"],
                              "condaDependencies": [], "pipDependencies": []},
               "description": None, "image": None}
SEAM = {"notebookId": "notebook_1626160071451_0001", "namespace": "default", "environment": ENVIRONMENT,
        "envVars": {"TEST_ENV": "test"}, "resources": "cpu=1,memory=1.0Gi"}


def test_the_seam_round_trips():
    assert parse_options(SEAM).model_dump() == SEAM


@pytest.mark.parametrize("change,words", [
    ({"notebookId": None}, "user_options.notebookId"),
    ({"environment": {"name": "x"}}, "user_options.environment.dockerImage: is required"),
    ({"envVars": {"JUPYTERHUB_USER": "x"}}, "'JUPYTERHUB_USER' is reserved"),
    ({"envVars": {"PATH": "/evil"}}, "'PATH' is reserved"),
    ({"resources": "cpu=lots"}, "user_options.resources: cpu=lots"),
    ({"resources": "cpu=8"}, "over this hub's cap of 2"),
    ({"surprise": 1}, "user_options.surprise: is not a known field"),
])
def test_the_seam_refuses(change, words):
    with pytest.raises(ValueError, match=words):
        parse_options({**SEAM, **change}, ResourcePolicy(max_cpu=2))


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
    request = specs.validate(specs.NotebookRequest, {
        "meta": {"name": "nb"}, "environment": {"name": "notebook-env", "dockerImage": "ignored"},
        "spec": {"resources": "cpu=1", "memory": "2Gi", "gpu": "1"}})
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
    for code, name in [(400, "BAD_REQUEST"), (401, "UNAUTHORIZED"), (403, "FORBIDDEN"), (404, "NOT_FOUND"),
                       (409, "CONFLICT"), (415, "UNSUPPORTED_MEDIA_TYPE"), (429, "TOO_MANY_REQUESTS"),
                       (500, "INTERNAL_SERVER_ERROR"), (503, "SERVICE_UNAVAILABLE")]:
        body = envelope(code, "why")
        assert body == {"status": name, "code": code, "success": False, "message": "why", "result": None,
                        "attributes": {}}


@pytest.mark.parametrize("server,current,expected", [
    ({"ready": True}, "creating", ("running", "The notebook instance is running")),
    ({"ready": True}, "running", None),
    ({"ready": False, "pending": "spawn"}, "waiting", None),
    ({"ready": False, "pending": "spawn"}, "stopped", ("creating", "The notebook instance is creating")),
    ({"ready": False, "pending": "stop"}, "running", ("terminating", "The notebook instance is stopping")),
    ({"ready": False, "pending": None}, "running", ("stopped", "The notebook instance is stopped")),
    ({"ready": False, "pending": None}, "failed", None),
    ({"ready": False, "pending": None, "state": {"last_exit": {"status": 1, "message": "exit status 1"}}},
     "running", ("failed", "The notebook server exited unexpectedly (exit status 1)")),
])
def test_status_from_the_hubs_server_model(server, current, expected):
    assert statuses.from_server(server, current) == expected
