"""Notebooks.start, stop and update: done, refused and called off, or accepted when the hub is
slow and carried out later."""

import asyncio

import pytest

from hub_service import statuses
from hub_service.errors import ApiError
from hub_service.hub import controller as controller_module
from submarine_spawner.contract import admitted

from .conftest import BRIEFLY, eventually, user

ANN = user("ann")


def later(seconds: float, work):
    """``work()`` (a coroutine) in ``seconds``: what the hub does while a step waits for it."""
    asyncio.get_running_loop().call_later(seconds, lambda: asyncio.ensure_future(work()))


# --- start -----------------------------------------------------------------------------------


async def test_a_start_of_a_stopped_notebook_is_admitted_and_then_running(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    started, accepted = await service.notebooks.start(ANN, notebook_id)
    assert started["status"] == statuses.CREATING and not accepted
    row = await service.row(notebook_id)
    assert not row["pending"] and row["desired"] == "running"
    assert hub.spawns == [("ann", "nb"), ("ann", "nb")] and hub.count("create_server") == 1
    await hub.spawned("ann", "nb")
    await eventually(lambda: service.is_(notebook_id, statuses.RUNNING))


@pytest.mark.parametrize(
    "code,answer,headers,says",
    [
        (429, 429, {"Retry-After": "3"}, "JupyterHub is busy starting other servers; the notebook was not started"),
        (400, 400, {}, "JupyterHub refused to start the notebook 'nb': no, says the hub"),
        (403, 403, {}, "JupyterHub refused to start the notebook 'nb': no, says the hub"),
        (404, 400, {}, "JupyterHub refused to start the notebook 'nb': no, says the hub"),
    ],
)
async def test_a_start_the_hub_refuses_is_called_off(service, code, answer, headers, says):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    before = await service.row(notebook_id)
    hub.fail("start_server", code, "no, says the hub", retry_after=3 if code == 429 else None)
    with pytest.raises(ApiError) as refused:
        await service.notebooks.start(ANN, notebook_id)
    assert (refused.value.code, refused.value.headers) == (answer, headers) and says in refused.value.message
    row = await service.row(notebook_id)
    assert (row["status"], row["reason"]) == (before["status"], before["reason"])
    assert not row["pending"] and row["desired"] == "stopped" and len(hub.spawns) == 1


async def test_a_failed_notebook_whose_start_is_refused_stays_failed_saying_why(service):
    hub = service.hub
    notebook_id = (await service.create("ann", "nb"))["notebookId"]
    await hub.spawn_failed("ann", "nb", "no such image")
    await eventually(lambda: service.is_(notebook_id, statuses.FAILED))
    hub.fail("start_server", 429, retry_after=1)
    with pytest.raises(ApiError) as busy:
        await service.notebooks.start(ANN, notebook_id)
    assert busy.value.code == 429
    row = await service.row(notebook_id)
    assert (row["status"], row["reason"]) == (statuses.FAILED, "Spawn failed: no such image") and not row["pending"]


async def test_a_start_in_an_environment_the_owner_may_no_longer_use_is_refused_by_the_admission(service):
    hub = service.hub
    await hub.ensure_user("ann")
    hub.groups["team"] = {"ann"}
    await service.environment("team-env", groups=["team"])
    notebook_id = await service.stopped("ann", "nb", environment="team-env")
    hub.groups["team"].discard("ann")
    with pytest.raises(ApiError) as refused:
        await service.notebooks.start(ANN, notebook_id)
    assert refused.value.code == 403 and "is for the members of team" in refused.value.message
    row = await service.row(notebook_id)
    assert row["status"] == statuses.STOPPED and not row["pending"] and len(hub.spawns) == 1


async def test_a_start_the_hub_fails_is_accepted_and_a_later_step_carries_it_out(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    hub.fail("start_server", 503)
    started, accepted = await service.notebooks.start(ANN, notebook_id)
    assert accepted and started["status"] == statuses.CREATING
    row = await service.row(notebook_id)
    assert row["pending"] and row["desired"] == "running" and row["attempts"] == 1
    assert (await service.controller.step(notebook_id)).done
    assert not (await service.row(notebook_id))["pending"] and len(hub.spawns) == 2


async def test_a_start_the_hub_is_slow_for_is_accepted_and_goes_on(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    service.notebooks.request_timeout = BRIEFLY
    gate = hub.hold("start_server")
    started, accepted = await service.notebooks.start(ANN, notebook_id)
    assert accepted and started["status"] == statuses.CREATING
    assert (await service.row(notebook_id))["pending"]
    gate.open()
    await eventually(lambda: len(hub.spawns) == 2)
    assert not (await service.row(notebook_id))["pending"]


async def test_a_start_while_the_hub_still_stops_the_server_waits_for_the_stop(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    hub.server("ann", "nb").pending = "stop"  # a stop on the hub's own door, not over yet
    later(0.05, lambda: hub.finish_stop("ann", "nb"))
    started, accepted = await service.notebooks.start(ANN, notebook_id)
    assert started["status"] == statuses.CREATING and not accepted and len(hub.spawns) == 2


async def test_a_start_while_the_hub_stops_the_server_for_long_is_accepted_and_carried_out_later(service, monkeypatch):
    monkeypatch.setattr(controller_module, "STOP_WAIT", 0.05)
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    hub.server("ann", "nb").pending = "stop"
    started, accepted = await service.notebooks.start(ANN, notebook_id)
    assert accepted and (await service.row(notebook_id))["pending"] and len(hub.spawns) == 1
    await hub.finish_stop("ann", "nb")
    assert (await service.controller.step(notebook_id)).done and len(hub.spawns) == 2


async def test_a_start_over_the_owners_quota_is_403_and_changes_nothing(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "b", resources="cpu=1")
    await service.running("ann", "a", resources="cpu=1")
    service.notebooks.quota.max_cpu = 1.5
    with pytest.raises(ApiError) as over:
        await service.notebooks.start(ANN, notebook_id)
    assert over.value.code == 403 and "cpu 1 in use + 1 asked > 1.5" in over.value.message
    row = await service.row(notebook_id)
    assert row["status"] == statuses.STOPPED and not row["pending"] and len(hub.spawns) == 2


async def test_a_start_of_a_running_notebook_is_409(service):
    notebook_id = await service.running("ann", "nb")
    with pytest.raises(ApiError) as running:
        await service.notebooks.start(ANN, notebook_id)
    assert running.value.code == 409 and "is running" in running.value.message


# --- stop ------------------------------------------------------------------------------------


async def test_a_stop_the_hub_does_at_once_is_stopped(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    stopped, accepted = await service.notebooks.stop(ANN, notebook_id)
    assert (stopped["status"], stopped["reason"]) == (statuses.STOPPED, statuses.REASONS[statuses.STOPPED])
    assert not accepted
    row = await service.row(notebook_id)
    assert not row["pending"] and row["desired"] == "stopped"
    assert not hub.server("ann", "nb").active  # stopped, kept with its workspace


async def test_a_stop_the_hub_finishes_soon_after_is_stopped(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    hub.slow_stops = True
    later(0.05, lambda: hub.finish_stop("ann", "nb"))
    stopped, accepted = await service.notebooks.stop(ANN, notebook_id)
    assert stopped["status"] == statuses.STOPPED and not accepted


async def test_a_stop_the_hub_takes_long_for_is_terminating_then_stopped(service, monkeypatch):
    monkeypatch.setattr(controller_module, "STOP_WAIT", 0.05)
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    hub.slow_stops = True
    stopping, accepted = await service.notebooks.stop(ANN, notebook_id)
    # the hub took it (202): under way, so not "accepted"; the controller looks again
    assert stopping["status"] == statuses.TERMINATING and not accepted
    row = await service.row(notebook_id)
    assert row["pending"] and row["attempts"] == 1 and row["retry_at"] is not None
    await hub.finish_stop("ann", "nb")
    assert (await service.controller.step(notebook_id)).done
    assert await service.status(notebook_id) == statuses.STOPPED


@pytest.mark.parametrize("slow", ["hold", "fail"])
async def test_a_stop_the_hub_does_not_answer_is_accepted_and_carried_out(service, slow):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    service.notebooks.request_timeout = BRIEFLY
    gate = hub.hold("delete_server") if slow == "hold" else hub.fail("delete_server", 503)
    stopping, accepted = await service.notebooks.stop(ANN, notebook_id)
    assert accepted and stopping["status"] == statuses.TERMINATING
    if gate:
        gate.open()
    else:
        await service.controller.step(notebook_id)
    await eventually(lambda: service.is_(notebook_id, statuses.STOPPED))
    assert not (await service.row(notebook_id))["pending"]


@pytest.mark.parametrize("status", [statuses.STOPPED, statuses.FAILED])
async def test_a_stop_of_a_stopped_or_failed_notebook_changes_nothing(service, status):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    if status == statuses.FAILED:
        await hub.crash("ann", "nb")
        await service.sync.full_pass()
    else:
        await service.notebooks.stop(ANN, notebook_id)
    await eventually(lambda: service.is_(notebook_id, status))
    calls, events = len(hub.calls), await service.events(notebook_id)
    result, accepted = await service.notebooks.stop(ANN, notebook_id)
    assert result["status"] == status and not accepted
    assert len(hub.calls) == calls and await service.events(notebook_id) == events


async def test_a_stop_of_a_server_gone_from_the_hub_removes_the_notebook(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    gate = hub.hold("delete_server")
    stop = asyncio.ensure_future(service.notebooks.stop(ANN, notebook_id))
    await gate.reached.wait()
    await hub.delete_server("ann", "nb", remove=True)  # removed on the hub's door meanwhile
    gate.open()
    with pytest.raises(ApiError) as gone:
        await stop
    assert gone.value.code == 404 and await service.nothing_left("ann")


async def test_a_stop_of_a_starting_notebook_is_stopped_and_never_said_running(service):
    notebook_id = (await service.create("ann", "nb"))["notebookId"]
    await eventually(lambda: service.sync.watchers)  # following the spawn's progress
    stopped, accepted = await service.notebooks.stop(ANN, notebook_id)
    assert stopped["status"] == statuses.STOPPED and not accepted
    # the progress of the spawn the stop interrupted ends (JupyterHub says "ready"): not news
    await eventually(lambda: not service.sync.watchers)
    history = [status for status, _ in await service.events(notebook_id)]
    assert history[-2:] == [statuses.TERMINATING, statuses.STOPPED] and statuses.RUNNING not in history


# --- change ----------------------------------------------------------------------------------


async def test_a_change_of_a_running_notebook_is_409(service):
    notebook_id = await service.running("ann", "nb", env_vars={"A": "1"})
    with pytest.raises(ApiError) as running:
        await service.notebooks.update(ANN, notebook_id, {"spec": {"envVars": {"A": "2"}}})
    assert running.value.code == 409 and "stop it first" in running.value.message
    assert (await service.row(notebook_id))["spec"]["spec"]["envVars"] == {"A": "1"}


async def test_a_change_of_a_stopped_notebook_takes_the_new_spec_and_the_hub_shows_it(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb", env_vars={"A": "1"}, resources="cpu=1")
    changed = await service.notebooks.update(ANN, notebook_id, {"spec": {"envVars": {"A": "2"}}})
    assert changed["spec"]["spec"] == {"envVars": {"A": "2"}, "resources": "cpu=1"}
    assert (statuses.STOPPED, "The notebook instance was changed") in await service.events(notebook_id)
    row = await service.row(notebook_id)
    assert hub.server("ann", "nb").user_options == admitted(notebook_id, row["spec"]).user_options()


@pytest.mark.parametrize("slow", ["hold", "fail"])
async def test_a_change_the_hub_does_not_take_stands_and_the_next_start_brings_it(service, slow):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb", env_vars={"A": "1"})
    service.notebooks.request_timeout = BRIEFLY
    gate = hub.hold("patch_server") if slow == "hold" else hub.fail("patch_server", 503)
    changed = await service.notebooks.update(ANN, notebook_id, {"spec": {"envVars": {"A": "2"}}})
    assert changed["spec"]["spec"]["envVars"] == {"A": "2"}
    assert hub.server("ann", "nb").user_options["envVars"] == {"A": "1"}
    # the next start's admission gives the hub the notebook's spec
    await service.notebooks.start(ANN, notebook_id)
    assert hub.server("ann", "nb").user_options["envVars"] == {"A": "2"}
    if gate:
        gate.open()


@pytest.mark.parametrize("environment,code", [("nowhere-env", 404), ("old-env", 409)], ids=["unknown", "deprecated"])
async def test_a_change_to_an_environment_a_new_notebook_may_not_take_is_refused(service, environment, code):
    await service.environment("old-env", deprecated="use notebook-env")
    notebook_id = await service.stopped("ann", "nb")
    with pytest.raises(ApiError) as refused:
        await service.notebooks.update(ANN, notebook_id, {"environment": {"name": environment}})
    assert refused.value.code == code
    assert (await service.row(notebook_id))["spec"]["environment"]["name"] == "notebook-env"
