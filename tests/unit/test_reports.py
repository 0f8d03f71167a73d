"""Admission.report: what the spawners see happen to a server moves a settled notebook; a
notebook with a change pending is the controller's, which sees what became of the server."""

from datetime import timedelta

import pytest

from hub_service import statuses, store
from hub_service.store.schema import utcnow

from .conftest import eventually, user
from .fake_hub import SPAWNER

ANN = user("ann")


async def report(service, event, message=None, server="nb", **more):
    body = {"owner": "ann", "server": server, "event": event, "message": message, **more}
    await service.admission.report(SPAWNER, body)


async def test_a_running_notebook_reported_stopped_is_stopped(service):
    notebook_id = await service.running("ann", "nb")
    await report(service, "stopped")
    row = await service.row(notebook_id)
    assert (row["status"], row["reason"]) == (statuses.STOPPED, statuses.REASONS[statuses.STOPPED])
    assert row["desired"] == "stopped" and not row["pending"]


async def test_a_stop_after_the_idle_timeout_says_the_culler_stopped_it(service):
    notebook_id = await service.running("ann", "nb")
    service.sync.cull_idle_timeout = 600
    await service.database.run(store.note_activity, notebook_id, utcnow() - timedelta(hours=1))
    await report(service, "stopped")
    reason = (await service.row(notebook_id))["reason"]
    assert reason.startswith("Stopped by the idle culler: no activity for 60 min (the limit is 10 min)")


@pytest.mark.parametrize("idle", [timedelta(hours=1), timedelta(minutes=1)])
async def test_a_stop_reads_the_last_activity_the_spawner_reports(service, idle):
    """The service's own record of activity is only as fresh as its last full pass."""
    notebook_id = await service.running("ann", "nb")
    service.sync.cull_idle_timeout = 600
    await service.database.run(store.note_activity, notebook_id, utcnow() - timedelta(hours=2))
    await report(service, "stopped", lastActivity=(utcnow() - idle).isoformat())
    reason = (await service.row(notebook_id))["reason"]
    assert reason.startswith("Stopped by the idle culler") == (idle > timedelta(minutes=10)), reason


async def test_a_late_report_about_another_notebook_of_the_same_server_name_changes_nothing(service):
    """A spawner retries a report the service missed: a notebook made since under that name stays."""
    notebook_id = await service.running("ann", "nb")
    for event in ("stopped", "failed", "removed"):
        await report(service, event, notebookId="an-earlier-notebook")
    assert await service.status(notebook_id) == statuses.RUNNING
    await report(service, "stopped", notebookId=notebook_id)
    assert await service.status(notebook_id) == statuses.STOPPED


async def test_a_report_of_a_stop_that_came_after_it_was_done_keeps_the_reason(service):
    """The culler's stop (a change the controller carries out) is done before the spawner's
    report of it arrives."""
    notebook_id = await service.stopped("ann", "nb")
    await service.database.run(store.set_status, notebook_id, statuses.STOPPED, "Stopped because of maxRuntime")
    events = await service.events(notebook_id)
    await report(service, "stopped")
    assert (await service.row(notebook_id))["reason"] == "Stopped because of maxRuntime"
    assert await service.events(notebook_id) == events


async def test_a_failed_notebook_reported_stopped_stays_failed_saying_why(service):
    notebook_id = (await service.create("ann", "nb"))["notebookId"]
    await service.hub.spawn_failed("ann", "nb", "no such image")
    await eventually(lambda: service.is_(notebook_id, statuses.FAILED))
    await report(service, "stopped")
    row = await service.row(notebook_id)
    assert (row["status"], row["reason"]) == (statuses.FAILED, "Spawn failed: no such image")


@pytest.mark.parametrize("message,says", [("exit status 9", "exit status 9"), (None, "The notebook server failed")])
async def test_a_notebook_reported_failed_is_failed_saying_why(service, message, says):
    notebook_id = await service.running("ann", "nb")
    await report(service, "failed", message)
    row = await service.row(notebook_id)
    assert (row["status"], row["reason"]) == (statuses.FAILED, says) and row["desired"] == "stopped"


async def test_a_notebook_reported_removed_is_gone(service):
    notebook_id = await service.running("ann", "nb")
    await report(service, "removed")
    assert await service.row(notebook_id) is None


@pytest.mark.parametrize("event", ["stopped", "failed", "removed"])
@pytest.mark.parametrize("pending", ["start", "delete"])
async def test_a_report_of_a_notebook_with_a_change_pending_leaves_it_to_the_controller(service, event, pending):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    if pending == "start":
        hub.fail("start_server", 503)
        await service.notebooks.start(ANN, notebook_id)
    else:
        hub.fail("delete_server", 503)
        await service.notebooks.delete(ANN, notebook_id)
    before = await service.row(notebook_id)
    assert before["pending"]
    await report(service, event, "it ended")
    assert await service.row(notebook_id) == before


async def test_a_report_of_a_server_that_is_no_notebook_changes_nothing(service):
    notebook_id = await service.running("ann", "nb")
    await report(service, "removed", server="other")
    assert await service.status(notebook_id) == statuses.RUNNING


@pytest.mark.parametrize(
    "happens,expected",
    [
        ("crash", (statuses.FAILED, "The notebook server exited unexpectedly (exit status 1)")),
        ("stop", (statuses.STOPPED, statuses.REASONS[statuses.STOPPED])),
        ("remove", None),
    ],
)
async def test_what_the_spawners_report_of_a_server_on_the_hubs_doors_reaches_its_notebook(service, happens, expected):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    hub.reports = True
    if happens == "crash":
        await hub.crash("ann", "nb")
    else:
        await hub.delete_server("ann", "nb", remove=happens == "remove")  # the admin panel, the culler
    assert await service.state(notebook_id) == expected
