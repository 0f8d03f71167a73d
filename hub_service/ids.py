"""Submarine-style ids: ``<kind>_<start ms>_<counter>``, e.g. ``notebook_1626160071451_0001``,
and inserting a row under a fresh one.

The start time makes ids unique across restarts and between the service's replicas. Two
replicas started in the same millisecond collide on the primary key: the loser calls
:meth:`IdGenerator.reseed` and takes a fresh start time, so the two sequences part for good.
"""

import itertools
import time

from sqlalchemy.exc import IntegrityError

from .errors import ApiError


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


async def insert_with_fresh_id(database, ids: IdGenerator, make_row, insert) -> dict:
    """``insert(connection, make_row(id))`` in one unit of work, and the row. ``insert`` raises
    an ApiError for a conflict it can name (a taken name); any other unique violation is an
    id another replica took: reseed and retry."""
    for _ in range(5):
        row = make_row(ids())
        try:
            await database.run(insert, row)
            return row
        except IntegrityError:
            ids.reseed()
    raise ApiError(503, f"Could not allocate a unique {ids.kind} id; try again")
