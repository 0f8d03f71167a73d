"""StatusSync: the quick pass over notebooks in a transition, the full pass over every server,
the hub's model of a server applied to a settled notebook, and the due pass over pending changes."""

from datetime import datetime, timedelta, timezone

import pytest

from hub_service import statuses, store
from hub_service.store.schema import utcnow

from .conftest import eventually
from .fake_hub import SPAWNER

STOPPED = (statuses.STOPPED, statuses.REASONS[statuses.STOPPED])


@pytest.mark.parametrize(
    "happens,expected",
    [
        ("stop", STOPPED),
        ("crash", (statuses.FAILED, "The notebook server exited unexpectedly (exit status 1)")),
        ("remove", None),
    ],
)
async def test_a_full_pass_finds_what_became_of_a_server_no_report_told_of(service, happens, expected):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    if happens == "crash":
        await hub.crash("ann", "nb")
    else:
        await hub.delete_server("ann", "nb", remove=happens == "remove")
    assert await service.status(notebook_id) == statuses.RUNNING  # nobody told the service
    calls = len(hub.calls)
    await service.sync.quick_pass()  # running notebooks are the reports' to follow: it asks nothing
    assert len(hub.calls) == calls
    await service.sync.full_pass()
    await eventually(lambda: service.state(notebook_id), equals=expected)
    if expected:
        row = await service.row(notebook_id)
        assert row["desired"] == "stopped" and not row["pending"]


async def test_a_quick_pass_brings_a_listed_notebook_up_to_date(service):
    hub = service.hub
    hub.fail("progress", 503)  # the spawn's progress cannot be followed
    notebook_id = (await service.create("ann", "nb"))["notebookId"]
    await eventually(lambda: not service.sync.watchers)
    await hub.spawned("ann", "nb")
    assert await service.status(notebook_id) == statuses.CREATING
    await service.sync.quick_pass()
    assert await service.status(notebook_id) == statuses.RUNNING
    activity = hub.server("ann", "nb").last_activity
    assert (await service.row(notebook_id))["last_activity"] == datetime.fromisoformat(activity.replace("Z", "+00:00"))


async def test_a_quick_pass_follows_a_stop_on_the_hubs_door_from_stopping_to_stopped(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    hub.slow_stops = True
    await hub.delete_server("ann", "nb", remove=False)
    await service.sync.full_pass()
    assert await service.state(notebook_id) == (statuses.TERMINATING, statuses.STOPPING_REASON)
    await hub.finish_stop("ann", "nb")
    await service.sync.quick_pass()
    await eventually(lambda: service.state(notebook_id), equals=STOPPED)


async def test_a_quick_pass_with_no_notebook_starting_or_stopping_asks_the_hub_nothing(service):
    await service.stopped("ann", "nb")
    await service.running("ann", "other")
    calls = len(service.hub.calls)
    await service.sync.quick_pass()
    assert len(service.hub.calls) == calls


async def test_a_full_pass_removes_the_notebooks_whose_servers_are_gone_and_corrects_the_rest(service):
    hub = service.hub
    gone = await service.running("ann", "gone")
    stopped = await service.running("ann", "stopped")
    pending = await service.written_down("ann", "pending")  # no server yet: the controller's to make
    await hub.delete_server("ann", "gone", remove=True)
    await hub.delete_server("ann", "stopped", remove=False)
    await service.sync.full_pass()
    assert await service.row(gone) is None
    assert await service.state(stopped) == STOPPED
    assert (await service.row(pending))["pending"]


async def test_applying_the_hubs_model_leaves_a_notebook_changed_since_it_was_read(service):
    notebook_id = await service.running("ann", "nb")
    (row,) = await service.database.run(store.settled)  # as a pass reads it
    await service.admission.report(SPAWNER, {"owner": "ann", "server": "nb", "event": "stopped"})
    crashed = {"ready": False, "pending": None, "state": {"last_exit": {"message": "exit status 1"}}}
    await service.sync.apply_model(row, crashed)
    assert await service.state(notebook_id) == STOPPED


async def test_applying_a_spawning_servers_model_makes_the_notebook_creating_and_follows_the_spawn(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    (row,) = await service.database.run(store.settled)
    spawning = hub.spawning("ann", "nb")  # started by a spawner that asks no admission
    await service.sync.apply_model(row, spawning.model())
    assert await service.status(notebook_id) == statuses.CREATING and notebook_id in service.sync.watchers
    await hub.spawned("ann", "nb")
    await eventually(lambda: service.is_(notebook_id, statuses.RUNNING))


async def test_applying_a_ready_servers_model_notes_its_activity(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    await hub.note_activity("ann", "nb", "2031-01-02T03:04:05Z")
    (row,) = await service.database.run(store.settled)
    await service.sync.apply_model(row, hub.server("ann", "nb").model())
    assert (await service.row(notebook_id))["last_activity"] == datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


async def test_a_due_pass_carries_on_with_the_changes_whose_time_has_come_and_leaves_held_ones(service):
    hub = service.hub
    ids = {name: await service.running("ann", name) for name in ("due", "never-held", "held")}
    now = utcnow()

    def ask_to_stop(connection, notebook_id, held):
        store.ask(connection, notebook_id, "stopped", statuses.TERMINATING, statuses.STOPPING_REASON, held)
        if held is None:
            store.retry_later(connection, notebook_id, 0, None)

    # what requests wrote down on replicas that died before their first step, and on one that lives
    await service.database.run(ask_to_stop, ids["due"], now - timedelta(seconds=1))
    await service.database.run(ask_to_stop, ids["never-held"], None)
    await service.database.run(ask_to_stop, ids["held"], now + timedelta(seconds=60))
    await service.sync.due_pass()
    for name in ("due", "never-held"):
        await eventually(lambda: service.state(ids[name]), equals=STOPPED)  # noqa: B023 (awaited at once)
    assert (await service.row(ids["held"]))["pending"] and hub.server("ann", "held").ready
