"""The schema and id allocation on each supported database (real sqlite and PostgreSQL)."""

import asyncio

from sqlalchemy import select

from hub_service import db
from hub_service.envelope import ApiError
from hub_service.ids import IdGenerator, insert_with_fresh_id

SEED = [{"name": "notebook-env", "dockerImage": "img:1"}]


def test_upgrade_seeds_once(db_url):
    db.upgrade(db_url, SEED)
    db.upgrade(db_url, SEED + [{"name": "other", "dockerImage": "img:2"}])  # already at head: no reseed

    async def names():
        engine, sessions = db.connect(db_url)
        async with sessions() as session:
            rows = (await session.execute(select(db.Environment.name))).scalars().all()
        await engine.dispose()
        return rows

    assert asyncio.run(names()) == ["notebook-env"]


def test_replicas_started_in_the_same_millisecond_get_distinct_ids(db_url):
    """Two id generators with one start time: the primary key catches it, the loser reseeds."""
    db.upgrade(db_url, [])
    first, second = IdGenerator("environment"), IdGenerator("environment")
    second.start = first.start

    async def insert_both():
        engine, sessions = db.connect(db_url)

        async def no_conflict(session):
            return None

        made = []
        for i, ids in enumerate([first, second, first, second]):
            row = await insert_with_fresh_id(
                sessions, ids, lambda eid, i=i: db.Environment(environment_id=eid, name=f"e{i}", spec={}),
                no_conflict)
            made.append(row.environment_id)
        await engine.dispose()
        return made

    made = asyncio.run(insert_both())
    assert len(set(made)) == 4
    assert second.start != first.start


def test_a_named_conflict_is_a_409(db_url):
    db.upgrade(db_url, SEED)

    async def duplicate():
        engine, sessions = db.connect(db_url)

        async def conflict(session):
            return "taken"

        try:
            await insert_with_fresh_id(
                sessions, IdGenerator("environment"),
                lambda eid: db.Environment(environment_id=eid, name="notebook-env", spec={}), conflict)
        finally:
            await engine.dispose()

    try:
        asyncio.run(duplicate())
    except ApiError as e:
        assert e.code == 409 and e.message == "taken"
    else:
        raise AssertionError("no conflict raised")
