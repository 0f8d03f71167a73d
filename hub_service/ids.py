"""Submarine-style ids: ``<kind>_<start ms>_<counter>``, e.g. ``notebook_1626160071451_0001``.

The start time makes ids unique across restarts. Two replicas started in the same
millisecond collide on the primary key: the loser calls :meth:`IdGenerator.reseed`
and takes a fresh start time, so the two sequences part for good.
"""

import itertools
import time

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from .envelope import ApiError


class IdGenerator:
    def __init__(self, kind: str):
        self.kind = kind
        self.start = 0
        self.reseed()

    def reseed(self):
        self.start = max(int(time.time() * 1000), self.start + 1)
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.kind}_{self.start}_{next(self._counter):04d}"


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
