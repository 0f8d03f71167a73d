"""SubmarineLocalSpawner: notebooks as local JupyterLab processes, the embedded default.

Each notebook gets its own working directory (also its ``HOME``) under
``SubmarinePolicy.data_dir``, kept while the notebook is stopped and removed with it. The
server's output goes to a log file the hub keeps. ``dockerImage`` is recorded,
not used, here.

Who a notebook runs as: when the hub runs as root, each owner's notebooks run as
an unprivileged OS user of the owner's own (``osusers``: made on demand), who owns
the owner's workspaces and can read neither the hub's data directory (its
secrets, databases and logs) nor another owner's files; environment builds run
as an unprivileged builder user. When the hub runs as an ordinary user, notebooks
run as that user: one person's hub, no isolation between notebooks.

The environment's kernelSpec is built once into a cached environment (builds.py)
and its kernel registered for the notebook alone, under ``kernelSpec.name``, in a
directory on the server's ``JUPYTER_PATH``; JupyterLab opens new notebooks in it.
"""

import asyncio
import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from datetime import datetime, timezone
from urllib.parse import quote

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Integer, List, Unicode, default

from . import osusers
from .builds import Builds, build_environ
from .mixin import SubmarineSpawnerMixin
from .paths import log_file, notebook_path, tail_lines
from .progress import ProgressLog
from .resources import Resources, format_bytes


def open_log(path: str):
    """The server's log, a line saying it starts again written (the file the server's output goes to)."""
    log = open(path, "ab")
    log.write(f"--- {datetime.now(timezone.utc).isoformat()} starting\n".encode())
    log.flush()
    return log


class SubmarineLocalSpawner(SubmarineSpawnerMixin, LocalProcessSpawner):
    notebook_traits = ("mem_limit", "cpu_limit")

    exit_log_lines = Integer(
        3,
        help="How many last lines of the server's log explain an unexpected exit (and of "
        "an environment build's output, a failed build).",
    ).tag(config=True)

    conda_path = Unicode(
        "",
        help="The conda, mamba or micromamba program that builds environments with "
        "condaDependencies: a path, or a name on the hub's PATH. Empty (the default): the "
        "first of conda, mamba and micromamba on the hub's PATH.",
    ).tag(config=True)

    build_env_keep = List(
        Unicode(),
        default_value=[
            "PATH",
            "HOME",
            "LANG",
            "LC_*",
            "TMPDIR",
            "http_proxy",
            "https_proxy",
            "no_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "REQUESTS_CA_BUNDLE",
            "PIP_*",
            "CONDA_*",
            "MAMBA_*",
        ],
        help="The hub's environment variables that environment builds (venv, pip, conda) see, "
        "as names or fnmatch patterns: how to reach and trust package indexes and channels. "
        "Nothing else of the hub's environment (its secrets) reaches a build.",
    ).tag(config=True)

    system_user_prefix = Unicode(
        "nb-",
        help="When the hub runs as root: the start of the OS users notebooks run as, one per owner "
        "(<prefix><owner>-<hash>, made on demand).",
    ).tag(config=True)

    builder_user = Unicode(
        help="When the hub runs as root: the OS user environment builds run as (made on demand). "
        "Default: <system_user_prefix>builder.",
    ).tag(config=True)

    @default("builder_user")
    def _default_builder_user(self):
        return f"{self.system_user_prefix}builder"

    @property
    def isolated(self) -> bool:
        """Notebooks run as users of their own (the hub runs as root)."""
        return os.getuid() == 0

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
    def data_dir(self) -> str:
        """The data directory of SubmarinePolicy: a working directory and a log per notebook, and
        the built environments."""
        return self.policy.data_dir

    @property
    def _slug(self):
        return notebook_path(self.user.name, self.name)

    @property
    def workdir(self) -> str:
        """The notebook's working directory and HOME."""
        return os.path.join(self.data_dir, "notebooks", self._slug)

    @property
    def log_path(self) -> str:
        """Where the server's stdout and stderr go."""
        return log_file(self.data_dir, self.user.name, self.name)

    @property
    def jupyter_dir(self) -> str:
        """The notebook's own Jupyter data directory (first on its JUPYTER_PATH): its kernel."""
        return os.path.join(self.data_dir, "jupyter", self._slug)

    @property
    def builds(self) -> Builds:
        """The cached environments, shared by every notebook of this data directory."""
        return Builds.at(os.path.join(self.data_dir, "environments"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._progress = ProgressLog()
        self._os_user: pwd.struct_passwd | None = None

    def apply_resources(self, resources: Resources):
        """Limits become ``mem_limit``/``cpu_limit`` (and MEM_LIMIT/CPU_LIMIT in the env)."""
        self.mem_limit = resources.memory if resources.memory is not None else self.configured("mem_limit")
        self.cpu_limit = resources.cpu if resources.cpu is not None else self.configured("cpu_limit")

    def make_preexec_fn(self, name):
        """The owner's OS user when isolated; else the hub's user. In the notebook's directory
        (Popen's cwd), files private by default."""
        return osusers.as_user(self._os_user if self.isolated else None, umask=0o077)

    def user_env(self, env):
        user = self._os_user.pw_name if self._os_user else self.user.name
        env.update(USER=user, LOGNAME=user, HOME=self.workdir, SHELL="/bin/bash")
        return env

    def get_env(self):
        env = super().get_env()
        if self.notebook:
            env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [self.jupyter_dir, env.get("JUPYTER_PATH")]))
        return env

    def get_args(self):
        args = super().get_args()
        if self.notebook:
            kernel = self.notebook.environment.kernelSpec.name
            args.append(f"--MappingKernelManager.default_kernel_name={kernel}")
        return args

    async def progress(self):
        """What the current start does (building an environment, starting JupyterLab)."""
        async for event in self._progress.follow():
            yield event

    # --- who runs it, and where ---------------------------------------------------------

    async def _system_user(self, name: str, comment: str, home: str) -> pwd.struct_passwd:
        user = await osusers.ensure(name, comment, home)
        for path in (sys.executable, sysconfig.get_path("purelib"), self.data_dir):
            blocked = (
                osusers.unreachable(path, user, os.R_OK | os.X_OK)
                if path != self.data_dir
                else osusers.unreachable(path, user)
            )
            if blocked:
                raise osusers.OSUserError(
                    f"The OS user {name} cannot reach {path} ({blocked} is closed to other users): notebooks "
                    "run as unprivileged users when the hub is root, so the hub's Python, its packages and the "
                    "way to its data directory must be open to every user (e.g. a venv of /usr/bin/python3 in "
                    "a directory others can enter)"
                )
        return user

    async def _prepare(self):
        """The notebook's OS user and directories: its own, private to it."""
        if not self.isolated:
            self._os_user = None
            await asyncio.to_thread(self._make_dirs, None)
            return
        owner = self.user.name
        self._os_user = await self._system_user(
            osusers.system_name(owner, self.system_user_prefix),
            f"Submarine notebooks of {owner}"[:200],
            os.path.dirname(self.workdir),
        )
        self.log.info("%s runs as the OS user %s", self._log_name, self._os_user.pw_name)
        await asyncio.to_thread(self._make_dirs, self._os_user)

    def _make_dirs(self, user: pwd.struct_passwd | None):
        for area in ("notebooks", "jupyter"):
            top = os.path.join(self.data_dir, area)
            os.makedirs(top, mode=0o711, exist_ok=True)
            owned = os.path.join(top, quote(self.user.name, safe=""))
            if user is None:
                os.makedirs(owned, mode=0o700, exist_ok=True)
            else:
                os.chmod(top, 0o711)  # passable, not listable
                osusers.own(owned, user, 0o700)
        shutil.rmtree(self.jupyter_dir, ignore_errors=True)
        for path in (self.workdir, self.jupyter_dir):
            if user is None:
                os.makedirs(path, mode=0o700, exist_ok=True)
            else:
                osusers.own(path, user, 0o700)
        os.makedirs(os.path.dirname(self.log_path), mode=0o700, exist_ok=True)

    async def _register_kernel(self):
        """Build (or find) the environment; register its kernel for this notebook alone."""
        if not self.notebook:
            return
        environment = self.notebook.environment
        builder = None
        if self.isolated and (environment.kernelSpec.condaDependencies or environment.kernelSpec.pipDependencies):
            builder = await self._system_user(
                self.builder_user, "Submarine environment builds", os.path.join(self.data_dir, "environments", ".home")
            )
        try:
            built = await self.builds.ensure(
                environment.kernelSpec,
                environment.name,
                self._progress,
                conda_path=self.conda_path,
                env=build_environ(self.build_env_keep),
                tail_lines=self.exit_log_lines,
                user=builder,
            )
        except Exception as e:
            self.log.warning("Environment %s of %s could not be built: %s", environment.name, self._log_name, e)
            raise
        self.log.info(
            "%s runs environment %s's kernel %s with %s",
            self._log_name,
            environment.name,
            environment.kernelSpec.name,
            built.prefix or "the hub's Python",
        )
        await asyncio.to_thread(self._write_kernel, environment.kernelSpec.name, built.kernel_json(environment.name))

    def _write_kernel(self, name: str, spec: dict):
        path = os.path.join(self.jupyter_dir, "kernels", name)
        os.makedirs(path, mode=0o700)
        with open(os.path.join(path, "kernel.json"), "w") as f:
            json.dump(spec, f, indent=1)
        if self._os_user:
            for here in (path, os.path.dirname(path), os.path.join(path, "kernel.json")):
                os.chown(here, self._os_user.pw_uid, self._os_user.pw_gid)

    def _say_starting(self):
        parts = [f"environment {self.notebook.environment.name}"]
        if self.mem_limit:
            parts.append(f"memory {format_bytes(self.mem_limit)}")
        if self.cpu_limit:
            parts.append(f"cpu {self.cpu_limit:g}")
        self._progress.emit(80, f"Starting JupyterLab locally ({', '.join(parts)})")
        gpus = self.policy.resources.parse(self.notebook.resources).gpus
        if gpus:
            self._progress.emit(85, f"The local spawner allocates no GPUs ({gpus} asked for)")

    async def start(self):
        self._progress.reset()
        await self._prepare()
        await self._register_kernel()
        if self.notebook:
            self._say_starting()
        configured = self.popen_kwargs
        log = await asyncio.to_thread(open_log, self.log_path)
        self.popen_kwargs = {"cwd": self.workdir, "stdout": log, "stderr": subprocess.STDOUT, **configured}
        try:
            ip, port = await super().start()
        finally:
            self.popen_kwargs = configured
            await asyncio.to_thread(log.close)
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
                raise RuntimeError(f"JupyterLab exited while starting ({await self.describe_exit(status)})")
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return

    async def describe_exit(self, status) -> str:
        # a few hundred lines hold the last non-blank ones
        lines = await asyncio.to_thread(tail_lines, self.log_path, 200)
        tail = [line.strip() for line in lines if line.strip()][-self.exit_log_lines :]
        message = f"exit status {status}"
        return f"{message}: {' | '.join(tail)}" if tail else message

    def delete_forever(self):
        """The notebook is deleted: remove its working directory, kernel and log."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.jupyter_dir, ignore_errors=True)
        try:
            os.remove(self.log_path)
        except FileNotFoundError:
            pass
        return super().delete_forever()
