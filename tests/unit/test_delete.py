"""Notebooks.delete: it always wins, over a start, a stop or a create racing it; its removal is
retried while the hub fails, and a server already gone is no obstacle."""

import asyncio

import pytest

from hub_service import statuses
from hub_service.errors import ApiError
from hub_service.hub import controller as controller_module

from .conftest import BRIEFLY, eventually, user

ANN = user("ann")


async def deleted(service, notebook_id) -> bool:
    """The DELETE is written down: the notebook is gone for clients."""
    row = await service.row(notebook_id)
    return row is None or row["deleted_time"] is not None


async def test_a_delete_removes_the_server_and_the_notebook(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    result, accepted = await service.notebooks.delete(ANN, notebook_id)
    assert (result["notebookId"], result["status"], accepted) == (notebook_id, statuses.TERMINATING, False)
    assert ("delete_server", "ann", "nb", True) in hub.calls
    assert await service.nothing_left("ann")
    with pytest.raises(ApiError) as gone:
        await service.notebooks.get(ANN, notebook_id)
    assert gone.value.code == 404


async def test_a_start_racing_a_delete_is_404_and_starts_nothing(service):
    hub = service.hub
    notebook_id = await service.stopped("ann", "nb")
    gate = hub.hold("get_server")  # the start's step, on its way to the hub
    start = asyncio.ensure_future(service.notebooks.start(ANN, notebook_id))
    await gate.reached.wait()
    delete = asyncio.ensure_future(service.notebooks.delete(ANN, notebook_id))
    await eventually(lambda: deleted(service, notebook_id))
    gate.open()
    with pytest.raises(ApiError) as lost:
        await start
    assert lost.value.code == 404
    assert (await delete)[0]["status"] == statuses.TERMINATING
    # the start reached the hub, and the admission refused it: a DELETE is a mark no start passes
    assert hub.count("start_server") == 2 and len(hub.spawns) == 1
    assert await service.nothing_left("ann")


async def test_a_stop_racing_a_delete_is_404_and_the_server_goes(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    gate = hub.hold("delete_server")  # the stop's
    stop = asyncio.ensure_future(service.notebooks.stop(ANN, notebook_id))
    await gate.reached.wait()
    delete = asyncio.ensure_future(service.notebooks.delete(ANN, notebook_id))
    await eventually(lambda: deleted(service, notebook_id))
    gate.open()
    with pytest.raises(ApiError) as lost:
        await stop
    assert lost.value.code == 404
    assert (await delete)[1] is False
    assert await service.nothing_left("ann")


async def test_a_delete_of_a_notebook_being_created_wins(service):
    hub = service.hub
    gate = hub.hold("start_server")  # the create's first step
    create = asyncio.ensure_future(service.create("ann", "nb"))
    await gate.reached.wait()
    (row,) = await service.rows("ann")  # listed while it is created
    delete = asyncio.ensure_future(service.notebooks.delete(ANN, row["notebook_id"]))
    await eventually(lambda: deleted(service, row["notebook_id"]))
    gate.open()
    # written down first, the create answers as made; the delete after it wins: the start
    # reaches the hub, the admission refuses it, and the server goes
    assert (await create)["notebookId"] == row["notebook_id"]
    assert (await delete)[1] is False
    assert await service.nothing_left("ann") and hub.count("start_server") == 1 and hub.spawns == []


async def test_a_removal_the_hub_fails_is_accepted_and_retried(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    hub.fail("delete_server", 502)
    result, accepted = await service.notebooks.delete(ANN, notebook_id)
    assert accepted and result["status"] == statuses.TERMINATING
    row = await service.row(notebook_id)
    assert row["deleted_time"] and row["pending"] and row["attempts"] == 1 and row["retry_at"]
    assert hub.server("ann", "nb").ready
    with pytest.raises(ApiError):
        await service.notebooks.get(ANN, notebook_id)  # gone for clients already
    assert (await service.controller.step(notebook_id)).done
    assert await service.nothing_left("ann")


async def test_a_delete_the_hub_is_slow_for_is_accepted_and_carried_out(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    service.notebooks.request_timeout = BRIEFLY
    gate = hub.hold("delete_server")
    result, accepted = await service.notebooks.delete(ANN, notebook_id)
    assert accepted and result["status"] == statuses.TERMINATING
    gate.open()
    await eventually(lambda: service.nothing_left("ann"))


async def test_a_delete_the_hub_takes_long_to_stop_for_is_carried_out_when_it_has(service, monkeypatch):
    monkeypatch.setattr(controller_module, "STOP_WAIT", 0.05)
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    hub.slow_stops = True
    result, accepted = await service.notebooks.delete(ANN, notebook_id)
    assert result["status"] == statuses.TERMINATING and not accepted  # under way
    assert (await service.row(notebook_id))["attempts"] == 1
    await hub.finish_stop("ann", "nb")  # and the hub removes the server, as it was asked
    assert (await service.controller.step(notebook_id)).done
    assert await service.nothing_left("ann")


@pytest.mark.parametrize("how", ["removed on the hub before", "gone when the delete reaches it"])
async def test_a_delete_of_a_server_already_gone_removes_the_notebook(service, how):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    if how == "removed on the hub before":
        await hub.delete_server("ann", "nb", remove=True)  # no report reached the service
        result, accepted = await service.notebooks.delete(ANN, notebook_id)
    else:
        gate = hub.hold("delete_server")
        delete = asyncio.ensure_future(service.notebooks.delete(ANN, notebook_id))
        await gate.reached.wait()
        await hub.delete_server("ann", "nb", remove=True)
        gate.open()
        result, accepted = await delete
        assert hub.count("delete_server") == 2
    assert result["status"] == statuses.TERMINATING and not accepted
    assert await service.nothing_left("ann")


async def test_a_delete_never_removes_a_server_the_notebook_did_not_make(service):
    hub = service.hub
    await hub.ensure_user("ann")
    await hub.create_server("ann", "nb", "nb", {})  # made outside the API
    notebook_id = await service.written_down("ann", "nb")  # its first step would find the server taken
    await service.notebooks.delete(ANN, notebook_id)
    assert await service.rows("ann") == [] and hub.server("ann", "nb") is not None
    assert hub.count("delete_server") == 0


async def test_a_second_delete_is_404(service):
    notebook_id = await service.running("ann", "nb")
    await service.notebooks.delete(ANN, notebook_id)
    with pytest.raises(ApiError) as gone:
        await service.notebooks.delete(ANN, notebook_id)
    assert gone.value.code == 404
