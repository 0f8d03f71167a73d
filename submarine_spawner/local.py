"""SubmarineLocalSpawner: notebooks as local JupyterLab processes, the embedded default.

Each notebook gets its own working directory (also its ``HOME``) under
``data_dir``, kept while the notebook is stopped and removed with it. The
server's output goes to a log file beside it. Processes run as the hub's own
OS user: this spawner is for one team on one machine; Kubernetes is the
multi-tenant path. ``dockerImage`` is recorded, not used, here.
"""

import asyncio
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from urllib.parse import quote

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Integer, Unicode, default

from .mixin import SubmarineSpawnerMixin
from .resources import Resources, format_bytes


def log_file(data_dir: str, user: str, server: str) -> str:
    """Where a notebook's server writes its output (the service reads it for ``/logs``)."""
    return os.path.join(data_dir, "logs", quote(user, safe=""), (server or "default-server") + ".log")


class SubmarineLocalSpawner(SubmarineSpawnerMixin, LocalProcessSpawner):
    notebook_traits = ("mem_limit", "cpu_limit")

    data_dir = Unicode(
        help="Directory holding one working directory and one log per notebook. "
        "Default: $SUBMARINE_DATA_DIR, or ./data.",
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self):
        return os.path.abspath(os.environ.get("SUBMARINE_DATA_DIR", "data"))

    exit_log_lines = Integer(
        3, help="How many last lines of the server's log explain an unexpected exit."
    ).tag(config=True)

    @default("cmd")
    def _default_cmd(self):
        # the hub's own interpreter: no reliance on PATH
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("default_url")
    def _default_url(self):
        return "/lab"

    @default("notebook_dir")
    def _default_notebook_dir(self):
        return self.workdir

    @property
    def _slug(self):
        return os.path.join(quote(self.user.name, safe=""), self.name or "default-server")

    @property
    def workdir(self) -> str:
        """The notebook's working directory and HOME."""
        return os.path.join(self.data_dir, "notebooks", self._slug)

    @property
    def log_path(self) -> str:
        """Where the server's stdout and stderr go."""
        return log_file(self.data_dir, self.user.name, self.name)

    def apply_resources(self, resources: Resources):
        """Limits become ``mem_limit``/``cpu_limit`` (and MEM_LIMIT/CPU_LIMIT in the env)."""
        self.mem_limit = resources.memory if resources.memory is not None else self.configured("mem_limit")
        self.cpu_limit = resources.cpu if resources.cpu is not None else self.configured("cpu_limit")

    def make_preexec_fn(self, name):
        """No setuid: the process runs as the hub's user, in the notebook's directory."""
        return None

    def user_env(self, env):
        env["USER"] = self.user.name
        env["HOME"] = self.workdir
        return env

    def get_args(self):
        args = super().get_args()
        if os.getuid() == 0:
            args.append("--allow-root")
        return args

    async def progress(self):
        if not self.notebook:
            return
        parts = [f"environment {self.notebook.environment.name}"]
        if self.mem_limit:
            parts.append(f"memory {format_bytes(self.mem_limit)}")
        if self.cpu_limit:
            parts.append(f"cpu {self.cpu_limit:g}")
        yield {"progress": 20, "message": f"Starting JupyterLab locally ({', '.join(parts)})"}
        gpus = self.resource_policy.parse(self.notebook.resources).gpus
        if gpus:
            yield {"progress": 30, "message": f"The local spawner allocates no GPUs ({gpus} asked for)"}

    async def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        configured = self.popen_kwargs
        with open(self.log_path, "ab") as log:
            log.write(f"--- {datetime.now(timezone.utc).isoformat()} starting\n".encode())
            log.flush()
            self.popen_kwargs = {"cwd": self.workdir, "stdout": log,
                                 "stderr": subprocess.STDOUT, **configured}
            try:
                ip, port = await super().start()
            finally:
                self.popen_kwargs = configured
        await self._wait_until_listening(ip, port)
        return ip, port

    async def _wait_until_listening(self, ip, port):
        """Return once the server accepts connections, or fail the start at once if it
        exits first (the hub alone would wait all of ``http_timeout`` to find out)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.http_timeout
        while loop.time() < deadline:
            status = self.proc.poll()
            if status is not None:
                raise RuntimeError(f"JupyterLab exited while starting ({self.describe_exit(status)})")
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return

    def describe_exit(self, status) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - 8192))
                lines = f.read().decode("utf8", "replace").splitlines()
        except OSError:
            lines = []
        tail = [line.strip() for line in lines if line.strip()][-self.exit_log_lines:]
        message = f"exit status {status}"
        return f"{message}: {' | '.join(tail)}" if tail else message

    def delete_forever(self):
        """The notebook is deleted: remove its working directory and log."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        try:
            os.remove(self.log_path)
        except FileNotFoundError:
            pass
