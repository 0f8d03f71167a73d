"""Progress events that any number of readers follow, each from the first event."""

import asyncio


class ProgressLog:
    """Events of one start (or one build), replayed to each reader from the first.

    The hub's spawn page, the service's watcher and anyone else reading a server's
    progress stream each get every event, whenever they begin to read.
    """

    def __init__(self):
        self.events: list[dict] = []
        self.closed = False
        self._news = asyncio.Event()

    def emit(self, progress: int, message: str):
        self.events.append({"progress": progress, "message": message})
        self._wake()

    def close(self):
        """No more events: readers stop once they have them all."""
        self.closed = True
        self._wake()

    def reset(self):
        """Begin again (a new start): empty and open."""
        self.events.clear()
        self.closed = False

    def _wake(self):
        self._news.set()
        self._news = asyncio.Event()

    async def follow(self):
        """Every event so far, then each new one, until closed."""
        seen = 0
        while True:
            news = self._news
            while seen < len(self.events):
                seen += 1
                yield self.events[seen - 1]
            if self.closed:
                return
            await news.wait()
