"""Submarine-style ids: ``<kind>_<start ms>_<counter>``, e.g. ``notebook_1626160071451_0001``.

The start time makes ids unique across restarts and between the processes that
make them: the hub's spawn form seeds its generator when the hub loads the
spawner, before it starts the service, so the two never share a start time.
Two service replicas started in the same millisecond collide on the primary
key: the loser calls :meth:`IdGenerator.reseed` and takes a fresh start time,
so the two sequences part for good.
"""

import itertools
import time


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
