"""What ``make bench-scale`` runs instead of JupyterLab: 10,000 labs do not fit on one machine.

``StubSpawner`` is a Submarine spawner (every start passes the service's admission, and
stops and removals are reported, as with the real spawners) whose servers are all one small
HTTP server, started by the benchmark: ``python -m bench.stub PORT`` answers 200 to any path,
which is all the hub asks of a server that has started. What is measured is the hub and the
service, not the labs.
"""

import asyncio
import os
import sys

from jupyterhub.spawner import Spawner
from traitlets import Unicode

from submarine_spawner.mixin import SubmarineSpawnerMixin


class _NoProcess(Spawner):
    """A server that is the shared stub: starting and stopping it make nothing."""

    stub_url = Unicode(os.environ.get("SUBMARINE_BENCH_STUB_URL", ""), help="The shared stub server").tag(config=True)
    _running = False

    async def start(self):
        self._running = True
        return self.stub_url

    async def stop(self, now=False):
        self._running = False

    async def poll(self):
        return None if self._running else 0

    def get_state(self):
        return {**super().get_state(), "stub_running": self._running}

    def load_state(self, state):
        super().load_state(state)
        self._running = state.get("stub_running", False)

    def clear_state(self):
        super().clear_state()
        self._running = False


class StubSpawner(SubmarineSpawnerMixin, _NoProcess):
    def apply_resources(self, resources):
        """Nothing runs, so nothing is limited."""


async def serve(port: int):
    async def answer(reader, writer):
        try:
            while await reader.readuntil(b"\r\n\r\n"):  # keep-alive: one answer per request head
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
