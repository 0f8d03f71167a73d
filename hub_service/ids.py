"""Inserting a row under a fresh Submarine-style id (``submarine_spawner.ids``), retrying
with a new start time when another replica took the id."""

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from submarine_spawner.ids import IdGenerator

from .envelope import ApiError


def _insert(connection, table, row):
    connection.execute(insert(table).values(row))


async def insert_with_fresh_id(database, table, ids: IdGenerator, make_row, conflict) -> dict:
    """Insert ``make_row(id)`` and return it. A unique violation is a 409 when
    ``conflict(connection)`` names one (a message), else an id collision: reseed, retry."""
    for _ in range(5):
        row = make_row(ids())
        try:
            await database.run(_insert, table, row)
            return row
        except IntegrityError:
            message = await database.run(conflict)
            if message:
                raise ApiError(409, message) from None
            ids.reseed()
    raise ApiError(503, f"Could not allocate a unique {ids.kind} id; try again")
