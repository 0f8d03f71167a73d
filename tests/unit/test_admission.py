"""Admission.admit, as the hub's spawners ask it at every start: a new named server becomes a
notebook, a refusal leaves nothing, a notebook restarts as the notebook it is (moved to its
environment's successor, or in its newest revision), and a deleted notebook never starts."""

import asyncio

import pytest

from hub_service import statuses
from hub_service.errors import ApiError
from hub_service.hub.client import HubError
from hub_service.rows import server_name
from hub_service.usecases import admission as admission_module

from .conftest import ADMIN, eventually, user
from .fake_hub import SPAWNER

ANN = user("ann")


def request(environment="notebook-env", **fields) -> dict:
    """user_options as a client of the hub's doors sends them."""
    return {"environment": {"name": environment}, **fields}


async def test_a_server_started_on_the_hub_becomes_a_notebook_as_its_start_is_admitted(service):
    hub = service.hub
    await hub.ensure_user("ann")
    # a client of the hub's REST API: what it says of an image or an id is never used
    options = request(envVars={"A": "1"}, resources="cpu=1", notebookId="notebook_mine")
    options["environment"]["dockerImage"] = "images/mine:1"
    assert await hub.start_server("ann", "door", user_options=options) == 202
    (row,) = await service.rows("ann")
    assert (row["name"], row["status"], row["admitted"], row["pending"]) == ("door", statuses.CREATING, True, False)
    catalogue = await service.environments.get(ADMIN, "notebook-env")
    assert row["spec"]["environment"] == catalogue["environmentSpec"]
    assert hub.server("ann", "door").user_options == {
        "notebookId": row["notebook_id"],
        "namespace": "default",
        "environment": {"name": "notebook-env"},
        "envVars": {"A": "1"},
        "resources": "cpu=1",
    }
    await hub.spawned("ann", "door")
    await eventually(lambda: service.is_(row["notebook_id"], statuses.RUNNING))


async def test_a_server_whose_name_the_hub_derived_becomes_the_notebook_its_display_name_names(service):
    hub = service.hub
    await hub.ensure_user("ann")
    name = "a-notebook-name-longer-than-the-hub-allows"
    await hub.start_server("ann", server_name(name), user_options=request(), display_name=name)
    (row,) = await service.rows("ann")
    assert (row["name"], row["server_name"]) == (name, server_name(name)) != (name, name)


async def no_setup(service):
    pass


async def cap_cpu_at_2(service):
    service.notebooks.policy.resources.max_cpu = 2


async def one_notebook_each(service):
    service.notebooks.quota.max_notebooks = 1
    await service.create("ann", "first")


async def team_environment(service):
    await service.environment("team-env", groups=["team"])


async def deprecated_environment(service):
    await service.environment("old-env", deprecated="it is old")


@pytest.mark.parametrize(
    "server,options,setup,code,says",
    [
        ("door", request("nowhere-env"), no_setup, 404, "Environment not found"),
        ("door", request(namespace="elsewhere"), no_setup, 400, "'elsewhere' is not allowed here"),
        ("door", request(resources="cpu=4"), cap_cpu_at_2, 400, "spec.resources: cpu=4 is over this hub's cap of 2"),
        ("door", request(), one_notebook_each, 403, "may have at most 1"),
        ("door", request("team-env"), team_environment, 403, "is for the members of team"),
        ("door", request("old-env"), deprecated_environment, 409, "is deprecated: it is old"),
        ("door", {}, no_setup, 400, "user_options.environment.name: is required"),
        ("x--y", request(), no_setup, 400, "cannot be a notebook's server name"),
    ],
    ids=["unknown environment", "namespace", "cap", "quota", "group", "deprecated", "no environment", "server name"],
)
async def test_a_start_on_the_hub_the_admission_refuses_leaves_no_notebook_and_no_server(
    service, server, options, setup, code, says
):
    hub = service.hub
    await hub.ensure_user("ann")
    await setup(service)
    with pytest.raises(HubError) as refused:
        await hub.start_server("ann", server, user_options=options)
    assert refused.value.code == code and says in refused.value.message
    assert [row for row in await service.rows("ann") if row["server_name"] == server] == []
    await eventually(lambda: hub.server("ann", server) is None)  # the refused server is removed
    assert ("ann", server) not in hub.spawns


async def test_a_refused_server_started_again_and_admitted_is_kept(service, monkeypatch):
    monkeypatch.setattr(admission_module, "STRAY_DELAY", 0.1)
    hub = service.hub
    await hub.ensure_user("ann")
    await deprecated_environment(service)
    with pytest.raises(HubError):
        await hub.start_server("ann", "door", user_options=request("old-env"))
    await hub.start_server("ann", "door", user_options=request())  # before the removal
    await asyncio.sleep(0.3)
    assert hub.server("ann", "door").pending == "spawn" and len(await service.rows("ann")) == 1


async def test_a_notebook_started_on_the_hub_starts_as_the_notebook_it_is(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb", env_vars={"A": "1"})
    asked = request("notebook-gpu-env", envVars={"A": "evil"})
    await hub.start_server("ann", "nb", user_options=asked)  # a change goes through PATCH
    row = await service.row(notebook_id)
    assert row["status"] == statuses.CREATING and row["spec"]["environment"]["name"] == "notebook-env"
    assert hub.server("ann", "nb").user_options["envVars"] == {"A": "1"}


async def test_a_notebook_started_on_the_hub_is_held_to_the_owners_quota(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "b", resources="cpu=1")
    await service.running("ann", "a", resources="cpu=1")
    service.notebooks.quota.max_cpu = 1.5
    with pytest.raises(HubError) as over:
        await hub.start_server("ann", "b")
    assert over.value.code == 403 and "would go over the limit" in over.value.message
    assert await service.status(notebook_id) == statuses.STOPPED
    service.notebooks.quota.max_cpu = 2
    await hub.start_server("ann", "b")
    assert await service.status(notebook_id) == statuses.CREATING


async def test_a_restart_moves_the_notebook_to_the_environment_its_own_is_redirected_to(service):
    await service.environment("old-env")
    notebook_id = await service.stopped("ann", "nb", environment="old-env")
    await service.environment("new-env")
    await service.environments.update(ADMIN, "old-env", {"deprecated": "use new-env", "redirectTo": "new-env"})
    before = await service.notebooks.get(ANN, notebook_id)
    assert before["pendingRestart"] and "moves the notebook to 'new-env'" in before["pendingRestartReason"]
    await service.notebooks.start(ANN, notebook_id)
    row = await service.row(notebook_id)
    assert row["spec"]["environment"]["name"] == "new-env" and row["environment_revision"] == 1
    moved = "The notebook instance moved from environment 'old-env' to 'new-env' (old-env is deprecated: use new-env)"
    assert moved in [message for _, message in await service.events(notebook_id)]
    assert service.hub.server("ann", "nb").user_options["environment"] == {"name": "new-env"}
    assert not (await service.notebooks.get(ANN, notebook_id))["pendingRestart"]


async def test_a_restart_takes_its_environments_new_revision(service):
    await service.environment("team-env")
    notebook_id = await service.stopped("ann", "nb", environment="team-env")
    await service.environments.update(ADMIN, "team-env", {"dockerImage": "images/team-env:2"})
    assert (await service.notebooks.get(ANN, notebook_id))["pendingRestart"]
    await service.notebooks.start(ANN, notebook_id)
    row = await service.row(notebook_id)
    assert row["spec"]["environment"]["dockerImage"] == "images/team-env:2" and row["environment_revision"] == 2
    took = "The notebook instance took environment 'team-env''s new spec (revision 2)"
    assert took in [message for _, message in await service.events(notebook_id)]


async def test_a_start_on_the_hub_of_a_notebook_being_deleted_is_refused(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    gate = hub.hold("get_server")  # the delete's step, on its way to the hub
    delete = asyncio.ensure_future(service.notebooks.delete(ANN, notebook_id))
    await gate.reached.wait()
    with pytest.raises(HubError) as refused:
        await hub.start_server("ann", "nb")
    assert refused.value.code == 409 and "is being deleted" in refused.value.message
    gate.open()
    await delete
    assert await service.nothing_left("ann") and len(hub.spawns) == 1


async def test_the_default_server_is_admitted_and_is_no_notebook(service):
    plain = await service.admission.admit(SPAWNER, {"owner": "ann", "server": "", "userOptions": {}})
    assert (plain["notebookId"], plain["environment"], plain["namespace"]) == (None, None, "default")
    chosen = await service.admission.admit(SPAWNER, {"owner": "ann", "userOptions": request(resources="cpu=1")})
    assert chosen["environment"]["name"] == "notebook-env" and chosen["resources"] == "cpu=1"
    assert chosen["notebookId"] is None and await service.rows("ann") == []


async def test_only_the_hubs_spawners_may_ask_for_admission_or_report(service):
    for ask in (service.admission.admit, service.admission.report):
        with pytest.raises(ApiError) as refused:
            await ask(ANN, {"owner": "ann", "server": "nb", "event": "stopped"})
        assert refused.value.code == 403
