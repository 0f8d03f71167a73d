"""The schema and id allocation on each supported database (real sqlite and PostgreSQL)."""

import asyncio

import pytest
from sqlalchemy import select

from hub_service import store
from hub_service.errors import ApiError
from hub_service.ids import IdGenerator, insert_with_fresh_id
from hub_service.store import schema

SEED = [{"name": "notebook-env", "dockerImage": "img:1"}]


def environment(environment_id, name):
    now = schema.utcnow()
    return {"environment_id": environment_id, "name": name, "spec": {}, "created": now, "updated": now}


async def with_database(url, work):
    database = schema.Database(url)
    try:
        return await work(database)
    finally:
        database.close()


def test_upgrade_seeds_once(db_url):
    schema.upgrade(db_url, SEED)
    schema.upgrade(db_url, SEED + [{"name": "other", "dockerImage": "img:2"}])  # already at head: no reseed

    async def names(database):
        return await database.run(
            lambda connection: connection.execute(select(schema.environments.c.name)).scalars().all()
        )

    assert asyncio.run(with_database(db_url, names)) == ["notebook-env"]


def test_replicas_started_in_the_same_millisecond_get_distinct_ids(db_url):
    """Two id generators with one start time: the primary key catches it, the loser reseeds."""
    schema.upgrade(db_url, [])
    first, second = IdGenerator("environment"), IdGenerator("environment")
    second.start = first.start

    async def insert_all(database):
        made = []
        for i, ids in enumerate([first, second, first, second]):
            row = await insert_with_fresh_id(
                database, ids, lambda eid, i=i: environment(eid, f"e{i}"), store.insert_environment
            )
            made.append(row["environment_id"])
        return made

    made = asyncio.run(with_database(db_url, insert_all))
    assert len(set(made)) == 4
    assert second.start != first.start


def test_a_conflict_the_insert_names_is_its_error(db_url):
    schema.upgrade(db_url, SEED)

    def insert(connection, row):
        if store.environment(connection, row["name"]):
            raise ApiError(409, "taken")
        store.insert_environment(connection, row)

    async def duplicate(database):
        await insert_with_fresh_id(
            database, IdGenerator("environment"), lambda eid: environment(eid, "notebook-env"), insert
        )

    with pytest.raises(ApiError) as caught:
        asyncio.run(with_database(db_url, duplicate))
    assert caught.value.code == 409 and caught.value.message == "taken"


def test_times_come_back_in_utc(db_url):
    schema.upgrade(db_url, SEED)

    async def created(database):
        return await database.run(
            lambda connection: connection.execute(select(schema.environments.c.created)).scalar()
        )

    value = asyncio.run(with_database(db_url, created))
    assert value.utcoffset().total_seconds() == 0


def test_a_read_does_not_wait_for_an_open_write_and_cannot_write(db_url):
    """``Database.read`` (on sqlite: on the event loop itself) sees what is committed while
    another transaction holds the write lock, and refuses to write."""
    schema.upgrade(db_url, SEED)

    async def check(database):
        writing, release = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()

        def write_and_hold(connection):
            store.change_environment(connection, "notebook-env", {"dockerImage": "img:2"}, 2)
            loop.call_soon_threadsafe(writing.set)
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=30)

        writer = asyncio.ensure_future(database.run(write_and_hold))
        await writing.wait()
        seen = await asyncio.wait_for(database.read(store.environment, "notebook-env"), 5)
        release.set()
        await writer
        after = await database.read(store.environment, "notebook-env")
        with pytest.raises(Exception, match="readonly|read-only|read only"):
            await database.read(store.change_environment, "notebook-env", {}, 3)
        return seen["revision"], after["revision"]

    assert asyncio.run(with_database(db_url, check)) == (1, 2)
