"""Notebooks.create: done, refused and undone, or called off when the hub is slow; quotas."""

import asyncio

import pytest

from hub_service import statuses
from hub_service.errors import ApiError

from .conftest import BRIEFLY, eventually, notebook_body, user


async def test_a_create_the_hub_takes_is_creating_and_admitted(service):
    hub = service.hub
    created = await service.create("ann", "nb", env_vars={"A": "1"}, resources="cpu=1")
    notebook_id = created["notebookId"]
    assert created["status"] == statuses.CREATING and created["url"] == "/user/ann/nb/lab"
    row = await service.row(notebook_id)
    assert row["admitted"] and not row["pending"] and row["desired"] == "running"
    # the server was made with the notebook's request, and its spawn admitted as the notebook
    server = hub.server("ann", "nb")
    assert server.pending == "spawn" and hub.spawns == [("ann", "nb")]
    assert server.user_options["notebookId"] == notebook_id and server.user_options["envVars"] == {"A": "1"}
    assert [hub.count(method) for method in ("ensure_user", "create_server", "start_server")] == [1, 1, 1]
    await hub.spawned("ann", "nb")
    await eventually(lambda: service.is_(notebook_id, statuses.RUNNING))
    history = [status for status, _ in await service.events(notebook_id)]
    assert history[0] == statuses.CREATING and history[-1] == statuses.RUNNING


async def test_a_create_on_a_server_made_outside_the_api_is_409_and_leaves_the_server_alone(service):
    hub = service.hub
    await hub.ensure_user("ann")
    await hub.create_server("ann", "taken", "taken", {"environment": {"name": "notebook-env"}})
    with pytest.raises(ApiError) as refused:
        await service.create("ann", "taken")
    assert refused.value.code == 409 and "made outside this API" in refused.value.message
    assert await service.rows("ann") == []
    assert hub.server("ann", "taken") is not None and hub.count("delete_server") == 0


async def test_a_server_made_outside_between_the_lookup_and_the_put_is_409_too(service):
    hub = service.hub
    gate = hub.hold("create_server")
    create = asyncio.ensure_future(service.create("ann", "taken"))
    await gate.reached.wait()
    await hub.create_server("ann", "taken", "taken", {})  # someone else, on the hub's door
    gate.open()
    with pytest.raises(ApiError) as refused:
        await create
    assert refused.value.code == 409 and "made outside this API" in refused.value.message
    assert await service.rows("ann") == [] and hub.server("ann", "taken").user_options == {}


async def test_a_create_the_hub_refuses_as_busy_is_429_and_leaves_nothing(service):
    hub = service.hub
    hub.fail("start_server", 429, "Too many users trying to log in right now", retry_after=7)
    with pytest.raises(ApiError) as busy:
        await service.create("ann", "nb")
    assert busy.value.code == 429 and busy.value.headers == {"Retry-After": "7"}
    assert "not created" in busy.value.message
    # undone while the request waited: the row and the server the PUT made
    assert await service.nothing_left("ann")


@pytest.mark.parametrize(
    "method,code,answer",
    [
        ("create_server", 400, 400),
        ("create_server", 403, 403),
        ("create_server", 404, 400),
        ("start_server", 400, 400),
    ],
)
async def test_a_create_the_hub_refuses_is_its_4xx_and_leaves_nothing(service, method, code, answer):
    hub = service.hub
    hub.fail(method, code, "no, says the hub")
    with pytest.raises(ApiError) as refused:
        await service.create("ann", "nb")
    assert refused.value.code == answer and "JupyterHub refused to create" in refused.value.message
    assert "no, says the hub" in refused.value.message
    assert await service.nothing_left("ann") and hub.spawns == []


@pytest.mark.parametrize("method,code", [("ensure_user", 503), ("create_server", 503), ("start_server", 502)])
async def test_a_create_the_hub_fails_is_503_and_leaves_nothing(service, method, code):
    hub = service.hub
    hub.fail(method, code)
    with pytest.raises(ApiError) as failed:
        await service.create("ann", "nb")
    assert failed.value.code == 503 and failed.value.headers == {"Retry-After": "10"}
    assert "JupyterHub failed" in failed.value.message and "not created" in failed.value.message
    # the row was marked deleted before the answer; the controller removes what was made
    await eventually(lambda: service.nothing_left("ann"))
    assert hub.spawns == []


@pytest.mark.parametrize("method", ["create_server", "start_server"])
async def test_a_create_the_hub_is_too_slow_for_is_called_off_and_what_the_hub_does_later_never_runs(service, method):
    hub = service.hub
    service.notebooks.request_timeout = BRIEFLY
    gate = hub.hold(method)
    with pytest.raises(ApiError) as late:
        await service.create("ann", "nb")
    assert late.value.code == 503 and late.value.headers == {"Retry-After": "10"}
    assert f"did not answer within {BRIEFLY:g}s" in late.value.message
    (row,) = await service.rows("ann")
    assert row["deleted_time"] is not None and row["status"] == statuses.TERMINATING
    assert (await service.notebooks.list(user("ann")))[0] == []
    # the hub runs the call it held: the admission refuses the start, and what it made goes
    gate.open()
    await eventually(lambda: service.nothing_left("ann"))
    assert hub.count("start_server") == 1 and hub.spawns == []


async def test_a_create_over_the_owners_notebook_quota_is_403(service):
    service.notebooks.quota.max_notebooks = 1
    await service.create("ann", "one")
    with pytest.raises(ApiError) as over:
        await service.create("ann", "two")
    assert over.value.code == 403 and "may have at most 1" in over.value.message
    assert [row["name"] for row in await service.rows("ann")] == ["one"]
    assert service.hub.server("ann", "two") is None


@pytest.mark.parametrize(
    "quota,resources",
    [({"max_notebooks": 3}, ""), ({"max_cpu": 3.0}, "cpu=1"), ({"max_memory": 3 * 2**30}, "memory=1Gi")],
)
async def test_concurrent_creates_never_pass_the_owners_quota(service, quota, resources):
    for name, limit in quota.items():
        setattr(service.notebooks.quota, name, limit)
    replies = await asyncio.gather(
        *(service.create("ann", f"nb-{i}", resources=resources) for i in range(8)), return_exceptions=True
    )
    refused = [reply for reply in replies if isinstance(reply, ApiError)]
    assert len(refused) == 5 and {reply.code for reply in refused} == {403}
    assert len(await service.rows("ann")) == 3 and len(service.hub.accounts["ann"]) == 3


async def test_a_create_of_a_name_the_owner_has_is_409(service):
    await service.create("ann", "nb")
    with pytest.raises(ApiError) as taken:
        await service.notebooks.create(user("ann"), notebook_body("nb"))
    assert taken.value.code == 409 and "already has a notebook named 'nb'" in taken.value.message
    assert service.hub.count("create_server") == 1
