"""Which replica of the service runs the controller's passes: the leader.

Any replica serves requests, admissions and the spawners' reports, and drives the notebooks
its requests change; one replica at a time also runs the status passes and retries pending
changes. On PostgreSQL the leader is the replica holding a session advisory lock on a
connection of its own: when that replica dies, its connection closes, the lock is freed and
another replica takes it at its next try. With sqlite there is one process, always the leader.
"""

import asyncio
import logging

from sqlalchemy import text

from .. import metrics
from ..store.schema import Database

log = logging.getLogger(__name__)

LOCK_KEY = 0x5375626D61726E  # "Submarn"


class Leadership:
    def __init__(self, database: Database, interval: float = 2.0):
        self.database = database
        self.interval = interval
        self.shared = database.engine.dialect.name == "postgresql"
        self.is_leader = not self.shared
        metrics.LEADER.set(self.is_leader)
        self._connection = None
        self._task: asyncio.Task | None = None

    def start(self):
        if self.shared:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self):
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._connection is not None:
            await asyncio.to_thread(self._connection.close)
            self._connection = None

    async def _run(self):
        while True:
            try:
                leader = await asyncio.to_thread(self._hold)
            except Exception as e:  # the database went away: so did the lock
                leader = False
                log.warning("Leadership: the database did not answer (%s)", e)
                self._drop()
            if leader != self.is_leader:
                log.info("This replica %s the controller's leader", "is now" if leader else "is no longer")
                self.is_leader = leader
                metrics.LEADER.set(leader)
            await asyncio.sleep(self.interval)

    def _hold(self) -> bool:
        """Take the lock if free, or check the connection that holds it still lives."""
        if self._connection is None:
            self._connection = self.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if self.is_leader:
            self._connection.execute(text("SELECT 1"))
            return True
        return bool(self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar())

    def _drop(self):
        if self._connection is not None:
            try:
                self._connection.invalidate()
            except Exception:  # already broken
                pass
            self._connection = None
