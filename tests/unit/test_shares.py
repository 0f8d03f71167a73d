"""Notebooks.share and unshare: the hub's shares of a notebook's server follow what it is shared
with; a group's members get user shares of their own, brought up to date after a full pass."""

import pytest

from hub_service.errors import ApiError

from .conftest import user

ANN = user("ann")


async def test_a_share_with_a_user_is_the_hubs_and_goes_when_it_is_revoked(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    await hub.ensure_user("bob")
    shares = await service.notebooks.share(ANN, notebook_id, {"user": "bob"})
    assert [share["user"] for share in shares] == ["bob"] and hub.shares["ann", "nb"] == {("user", "bob")}
    assert await service.notebooks.get(user("bob"), notebook_id)  # bob may read it now
    assert await service.notebooks.unshare(ANN, notebook_id, "user", "bob") == []
    assert hub.shares["ann", "nb"] == set()


async def test_a_group_share_gives_each_member_a_share_of_their_own_kept_up_to_date(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    hub.groups["team"] = {"ann", "bob", "cat"}
    await service.notebooks.share(ANN, notebook_id, {"group": "team"})
    assert hub.shares["ann", "nb"] == {("group", "team"), ("user", "bob"), ("user", "cat")}
    hub.groups["team"] = {"ann", "bob", "dan"}
    for work in service.sync.after_full_pass:  # what the leader does after a full pass
        await work()
    assert hub.shares["ann", "nb"] == {("group", "team"), ("user", "bob"), ("user", "dan")}


@pytest.mark.parametrize(
    "grant,code,says", [({"user": "nobody"}, 404, "no user named 'nobody'"), ({"group": "none"}, 404, "no group")]
)
async def test_a_share_with_someone_the_hub_does_not_know_is_404(service, grant, code, says):
    notebook_id = await service.running("ann", "nb")
    with pytest.raises(ApiError) as unknown:
        await service.notebooks.share(ANN, notebook_id, grant)
    assert unknown.value.code == code and says in unknown.value.message
    assert await service.notebooks.shares(ANN, notebook_id) == []


async def test_a_share_the_hub_fails_is_503(service):
    hub = service.hub
    notebook_id = await service.running("ann", "nb")
    await hub.ensure_user("bob")
    hub.fail("share", 502)
    with pytest.raises(ApiError) as failed:
        await service.notebooks.share(ANN, notebook_id, {"user": "bob"})
    assert failed.value.code == 503 and failed.value.headers == {"Retry-After": "10"}
