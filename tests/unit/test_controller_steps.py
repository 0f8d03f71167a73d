"""Controller: steps the hub fails are retried with backoff (the row keeps when), a restarted
service carries on where the last one stopped with no second server or spawn, and two
replicas' steps on one notebook make one server."""

import asyncio
from datetime import timedelta

import pytest

from hub_service import statuses, store
from hub_service.store.schema import utcnow

from .conftest import eventually, user, wire

ANN = user("ann")


async def seconds_to_retry(service, notebook_id) -> float:
    return ((await service.row(notebook_id))["retry_at"] - utcnow()).total_seconds()


async def test_a_step_the_hub_fails_is_tried_again_later_and_later(service):
    hub = service.hub
    service.leadership.is_leader = False  # no timers: the leader's due pass would try again
    notebook_id = await service.running("ann", "nb")
    for _ in range(3):
        hub.fail("delete_server", 502)
    await service.notebooks.stop(ANN, notebook_id)  # the first attempt, and two more
    for attempts, backoff in ((1, 1), (2, 2), (3, 4)):
        if attempts > 1:
            assert not (await service.controller.step(notebook_id)).done
        assert (await service.row(notebook_id))["attempts"] == attempts
        assert backoff - 0.5 < await seconds_to_retry(service, notebook_id) <= backoff
    assert (await service.controller.step(notebook_id)).done  # the hub answers again
    row = await service.row(notebook_id)
    assert (row["status"], row["pending"], row["attempts"], row["retry_at"]) == (statuses.STOPPED, False, 0, None)


async def test_a_step_is_tried_again_when_the_hub_says_to(service):
    notebook_id = await service.running("ann", "nb")
    service.hub.fail("delete_server", 503, retry_after=30)
    await service.notebooks.stop(ANN, notebook_id)
    assert 29 < await seconds_to_retry(service, notebook_id) <= 30


async def test_a_step_the_hub_refuses_is_not_tried_again_while_its_request_undoes_it(service):
    notebook_id = await service.written_down("ann", "nb")
    held = (await service.row(notebook_id))["retry_at"]
    service.hub.fail("create_server", 403)
    outcome = await service.controller.step(notebook_id)
    assert outcome.refused and outcome.code == 403
    row = await service.row(notebook_id)
    assert row["pending"] and (row["attempts"], row["retry_at"]) == (0, held)


async def test_a_step_of_a_notebook_that_is_gone_is_done(service):
    assert (await service.controller.step("notebook_0_0001")).done
    assert service.hub.calls == []


@pytest.mark.parametrize(
    "method,after",
    [("ensure_user", False), ("create_server", False), ("create_server", True), ("start_server", False)],
    ids=["ensure_user", "create_server", "create_server whose answer was lost", "start_server"],
)
async def test_a_create_cut_off_between_steps_is_carried_out_after_a_restart_with_one_server(service, method, after):
    hub = service.hub
    notebook_id = await service.written_down("ann", "nb")
    hub.fail(method, 503, after=after)
    assert not (await service.controller.step(notebook_id)).done
    await service.controller.stop()  # the service dies
    restarted = wire(service.database, hub)  # and starts again on the same database (and hub)
    await restarted.due_now(notebook_id)
    await restarted.sync.due_pass()
    await eventually(lambda: hub.spawns)  # the restarted service's step: admitted
    assert not (await restarted.row(notebook_id))["pending"]
    assert list(hub.accounts["ann"]) == ["nb"] and hub.spawns == [("ann", "nb")]
    assert len(await restarted.rows("ann")) == 1
    await hub.spawned("ann", "nb")
    await eventually(lambda: restarted.is_(notebook_id, statuses.RUNNING))


@pytest.mark.parametrize("asked", ["stop", "delete"])
async def test_a_change_its_service_died_before_carrying_out_is_carried_out_once_its_hold_is_over(service, asked):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    held = service.notebooks.held()
    if asked == "stop":
        await service.database.run(
            store.ask, notebook_id, "stopped", statuses.TERMINATING, statuses.STOPPING_REASON, held
        )
    else:
        await service.database.run(store.mark_deleted, notebook_id, held)
    await service.controller.stop()  # the service dies before its first step
    restarted = wire(service.database, hub)
    await restarted.sync.due_pass()
    assert hub.server("ann", "nb").ready  # held: its request's replica may be carrying it out
    await restarted.due_now(notebook_id)
    await restarted.sync.due_pass()
    if asked == "stop":
        await eventually(lambda: restarted.status(notebook_id), equals=statuses.STOPPED)
    else:
        await eventually(lambda: restarted.nothing_left("ann"))


async def test_a_create_step_the_hub_runs_late_for_another_replica_makes_no_second_spawn(service):
    hub = service.hub
    notebook_id = await service.written_down("ann", "nb")
    other = wire(service.database, hub)  # a second replica (the hub's spawners ask it now)
    gate = hub.hold("create_server")
    late = asyncio.ensure_future(service.controller.step(notebook_id))
    await gate.reached.wait()
    assert (await other.controller.step(notebook_id)).done  # PUT, start, admitted
    gate.open()
    # the late PUT finds the server (409): it is the notebook's, and already spawning
    assert (await late).done
    assert hub.count("create_server") == 2 and hub.count("start_server") == 1 and hub.spawns == [("ann", "nb")]


async def test_a_start_another_replica_admitted_is_done_even_when_its_spawn_fails_at_once(service):
    hub = service.hub
    notebook_id = await service.written_down("ann", "nb")
    wire(service.database, hub)  # the hub's spawners ask another replica
    hub.fail("start_server", 500, after=True)  # admitted, then the spawn failed at once
    assert (await service.controller.step(notebook_id)).done
    assert not (await service.row(notebook_id))["pending"] and hub.spawns == [("ann", "nb")]


async def test_a_start_accepted_and_then_refused_for_good_ends_failed_saying_why(service):
    hub = service.hub
    await hub.ensure_user("ann")
    hub.groups["team"] = {"ann"}
    await service.environment("team-env", groups=["team"])
    notebook_id = await service.stopped("ann", "nb", environment="team-env")
    hub.fail("start_server", 503)
    assert (await service.notebooks.start(ANN, notebook_id))[1]  # accepted: the hub failed
    hub.groups["team"].discard("ann")
    # the leader's retry: the admission refuses the start, and no request waits to call it off
    await eventually(lambda: service.status(notebook_id), equals=statuses.FAILED)
    row = await service.row(notebook_id)
    assert not row["pending"] and "is for the members of team" in row["reason"]
    assert notebook_id not in await service.database.run(store.due, utcnow() + timedelta(days=1))


async def test_a_create_its_service_died_before_carrying_out_that_the_hub_refuses_ends_failed(service):
    hub = service.hub
    notebook_id = await service.written_down("ann", "nb")
    await service.due_now(notebook_id)  # its request is long gone
    hub.fail("create_server", 400, "the named server limit is reached")
    await service.sync.due_pass()
    await eventually(lambda: service.status(notebook_id), equals=statuses.FAILED)
    row = await service.row(notebook_id)
    assert not row["pending"] and "the named server limit is reached" in row["reason"]
    assert notebook_id not in await service.database.run(store.due, utcnow() + timedelta(days=1))
