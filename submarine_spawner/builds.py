"""kernelSpecs built into environments on the hub's machine, once (SubmarineLocalSpawner).

A kernelSpec without dependencies needs no build: its kernel runs on the hub's own
Python. Any other is built into ``<root>/<key>/``, where ``key`` hashes what the
build depends on (the dependencies, the channels when conda is used, the hub's
Python), with the build's output in ``<root>/<key>.log``:

* pip dependencies only: a venv of the hub's Python that also sees the hub's
  packages, after its own (a ``.pth`` file), so ipykernel and pip come from the
  hub and nothing but the dependencies is installed;
* conda dependencies: ``conda create`` (or mamba, micromamba) of them with
  ipykernel (and pip, which then installs the pip dependencies).

When the hub runs as root, builds run as an unprivileged OS user of their own (``user``):
what a package's build script does, it does as that user, and notebooks (other users) can
read and run a build but not change it. Every build step runs in an empty directory, so a
requirement never finds a file of the hub's working directory.

A build is used only once complete (its marker file is written last). Starts of
one key in a hub process share one build; hub processes sharing the directory
take turns by a lock on ``<key>.lock``, and the second finds the first's build.
A failed build is removed, so the next start tries again. Builds are made where
they stay: neither a venv nor a conda env can be moved. Every command is an argv
list; no kernelSpec entry is ever read by a shell.
"""

import asyncio
import collections
import contextlib
import fcntl
import fnmatch
import functools
import hashlib
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from jupyterhub.spawner import SpawnException

from .bootstrap import conda_argv, pip_argv
from .contract import KernelSpec
from .osusers import as_user
from .progress import ProgressLog

FORMAT = 1  # how environments are built; a change makes new keys
MARKER = "submarine-environment.json"
CONDA_PROGRAMS = ("conda", "mamba", "micromamba")
# run by a new venv's Python with the hub's package directories as arguments
LINK_HUB_PACKAGES = (
    "import sys, sysconfig; "
    "open(sysconfig.get_path('purelib') + '/_submarine_hub.pth', 'w')"
    ".write(''.join(path + '\\n' for path in sys.argv[1:]))"
)
LOCK_POLL = 0.2  # seconds between looks at a lock another process holds
OUTPUT_EVERY = 1.0  # at most one progress event a second with a build's latest output line
MAX_LINE = 1 << 20  # the longest line of build output read as one


class BuildError(SpawnException):
    """A build that cannot run or failed; the message says which step and why.

    To the hub, a start it declines rather than a bug of its own: logged without a
    traceback, counted as a failure (not an error), its message in the hub API's
    answer and in the progress event that ends the start. Status 500, as any failed
    start, so the notebook stays, ``failed``, however soon the build fails.
    """

    def __init__(self, message: str):
        super().__init__(message, reason="environment_build", status_code=500)

    def __str__(self):
        return self.message


@dataclass(frozen=True)
class Environment:
    """Where a kernel runs: the hub's own Python, or a built environment."""

    python: str
    prefix: str | None = None

    def kernel_json(self, display_name: str) -> dict:
        spec = {
            "argv": [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": display_name,
            "language": "python",
            "metadata": {"debugger": True},
        }
        if self.prefix:
            # the kernel's shell commands (!python, !pip) find the environment's programs first
            spec["env"] = {"PATH": os.path.join(self.prefix, "bin") + os.pathsep + "${PATH}"}
        return spec


HUB_ENVIRONMENT = Environment(sys.executable)


def build_key(spec: KernelSpec) -> str:
    """What a build depends on, hashed: equal keys, interchangeable builds. The kernel's
    name is not part of it (each notebook registers the kernel under its own name)."""
    depends_on = {
        "format": FORMAT,
        "python": sys.version,
        "hub": sys.prefix,
        "conda": spec.condaDependencies,
        "pip": spec.pipDependencies,
        "channels": spec.channels if spec.condaDependencies else [],
    }
    return hashlib.sha256(json.dumps(depends_on, sort_keys=True).encode()).hexdigest()[:20]


def hub_package_dirs() -> list[str]:
    return [
        path
        for path in sys.path
        if os.path.basename(path) in ("site-packages", "dist-packages") and os.path.isdir(path)
    ]


def build_steps(spec: KernelSpec, prefix: str, label: str, conda: str | None = None) -> list:
    """The commands that build ``spec`` into ``prefix``, as ``(what, argv)``;
    ``conda`` is the program for conda dependencies."""
    python = os.path.join(prefix, "bin", "python")
    pip = spec.pipDependencies
    if spec.condaDependencies:
        packages = [*spec.condaDependencies, "ipykernel", *(["pip"] if pip else [])]
        steps = [
            (
                f"Installing {len(spec.condaDependencies)} conda dependencies for environment {label} "
                f"with {os.path.basename(conda)}",
                conda_argv(conda, ["create", "--prefix", prefix], spec.channels, packages),
            )
        ]
    else:
        steps = [
            (
                f"Creating a virtual environment for environment {label}",
                [sys.executable, "-m", "venv", "--without-pip", prefix],
            ),
            (
                f"Giving environment {label} the hub's ipykernel and pip",
                [python, "-c", LINK_HUB_PACKAGES, *hub_package_dirs()],
            ),
        ]
    if pip:
        steps.append(
            (f"Installing {len(pip)} pip dependencies for environment {label}", pip_argv([python, "-m", "pip"], pip))
        )
    return steps


def find_conda(configured: str) -> str | None:
    """The conda program: ``configured`` (a path or a name on PATH), else the first of
    CONDA_PROGRAMS on PATH."""
    for name in [configured] if configured else CONDA_PROGRAMS:
        path = shutil.which(name)
        if path:
            return path
    return None


def build_environ(patterns, environ=os.environ) -> dict[str, str]:
    """The variables of ``environ`` whose names match one of ``patterns`` (fnmatch)."""
    return {
        name: value
        for name, value in environ.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }


def mark_built(prefix: str, label: str, steps: list):
    """The build in ``prefix`` is complete: its marker, written last and all at once."""
    marker = os.path.join(prefix, MARKER)
    with open(marker + ".new", "w") as f:
        json.dump(
            {"label": label, "built": datetime.now(timezone.utc).isoformat(), "steps": [argv for _, argv in steps]}, f
        )
    os.replace(marker + ".new", marker)


class BuildLog:
    """A build's log file, opened, written and closed off the event loop."""

    def __init__(self, path: str):
        self.name = path
        self._file = None

    async def __aenter__(self):
        self._file = await asyncio.to_thread(open, self.name, "ab", 0)
        return self

    async def __aexit__(self, *_):
        await asyncio.to_thread(self._file.close)

    async def write(self, data: bytes):
        await asyncio.to_thread(self._file.write, data)


@dataclass
class Build:
    task: asyncio.Task
    progress: ProgressLog


class Builds:
    """The environments under ``root``, and those being built by this hub process."""

    _at: dict[str, "Builds"] = {}

    @classmethod
    def at(cls, root: str) -> "Builds":
        """The one registry of ``root`` in this process, which all its spawners share."""
        root = os.path.abspath(root)
        if root not in cls._at:
            cls._at[root] = cls(root)
        return cls._at[root]

    def __init__(self, root: str):
        self.root = root
        self.running: dict[str, Build] = {}

    def prefix(self, key: str) -> str:
        return os.path.join(self.root, key)

    def log_path(self, key: str) -> str:
        return self.prefix(key) + ".log"

    def built(self, key: str) -> Environment | None:
        prefix = self.prefix(key)
        if not os.path.exists(os.path.join(prefix, MARKER)):
            return None
        return Environment(os.path.join(prefix, "bin", "python"), prefix)

    async def ensure(
        self,
        spec: KernelSpec,
        label: str,
        progress: ProgressLog,
        *,
        conda_path: str = "",
        env: dict | None = None,
        tail_lines: int = 3,
        user: pwd.struct_passwd | None = None,
    ) -> Environment:
        """The environment of ``spec`` (``label`` names it in messages): the hub's own,
        a finished build, or the build of its key, started if none runs, with the
        build's progress passed on to ``progress``; built as ``user`` if given (the hub's
        own user otherwise). Raises :class:`BuildError`."""
        if not (spec.condaDependencies or spec.pipDependencies):
            return HUB_ENVIRONMENT
        key = build_key(spec)
        environment = self.built(key)
        if environment:
            progress.emit(40, f"Environment {label} is built ({environment.prefix})")
            return environment
        build = self.running.get(key)
        if build is None:
            conda = None
            if spec.condaDependencies:
                conda = find_conda(conda_path)
                if conda is None:
                    where = (
                        f"'{conda_path}' is not a program"
                        if conda_path
                        else f"none of {', '.join(CONDA_PROGRAMS)} is on the hub's PATH"
                    )
                    raise BuildError(
                        f"Environment {label} has conda dependencies, and the hub has no conda: {where} "
                        "(SubmarineLocalSpawner.conda_path)"
                    )
            build = self._start(key, label, build_steps(spec, self.prefix(key), label, conda), env, tail_lines, user)
        async for event in build.progress.follow():
            progress.emit(**event)
        # a start given up (cancelled) leaves the build running: the next start finds it
        return await asyncio.shield(build.task)

    def _start(self, key, label, steps, env, tail_lines, user) -> Build:
        progress = ProgressLog()
        task = asyncio.ensure_future(self._build(key, label, steps, env, tail_lines, user, progress))
        self.running[key] = build = Build(task, progress)
        return build

    def _workplace(self, user) -> tuple[str, str]:
        """``(cwd, home)`` of build steps: empty directories of the builder's own."""
        work, home = os.path.join(self.root, ".work"), os.path.join(self.root, ".home")
        for path in (self.root, work, home):
            os.makedirs(path, exist_ok=True)
            if user is not None:
                os.chown(path, user.pw_uid, user.pw_gid)
            os.chmod(path, 0o755 if path == self.root else 0o700)
        return work, home

    async def _build(self, key, label, steps, env, tail_lines, user, progress: ProgressLog) -> Environment:
        prefix = self.prefix(key)
        try:
            work, home = await asyncio.to_thread(self._workplace, user)
            run = functools.partial(
                self._run, env={**(env or os.environ), "HOME": home}, cwd=work, user=user, tail_lines=tail_lines
            )
            async with self._lock(key, label, progress):
                environment = self.built(key)
                if environment:  # another hub process built it while this one waited
                    progress.emit(40, f"Environment {label} is built ({prefix})")
                    return environment
                await asyncio.to_thread(shutil.rmtree, prefix, ignore_errors=True)  # a build that died
                async with BuildLog(self.log_path(key)) as log:
                    await log.write(
                        f"--- {datetime.now(timezone.utc).isoformat()} building environment "
                        f"{label} in {prefix}\n".encode()
                    )
                    try:
                        for number, (what, argv) in enumerate(steps):
                            percent = 10 + 60 * number // len(steps)
                            progress.emit(percent, f"{what} ...")
                            await run(
                                what,
                                argv,
                                log=log,
                                show=lambda line, percent=percent, what=what: progress.emit(
                                    percent, f"{what}: {line}"
                                ),
                            )
                        await asyncio.to_thread(mark_built, prefix, label, steps)
                    except BaseException as e:
                        await log.write(f"--- failed: {e}\n".encode())
                        await asyncio.to_thread(shutil.rmtree, prefix, ignore_errors=True)
                        raise
                    await log.write(b"--- built\n")
            return self.built(key)
        finally:
            # from now on a start finds the build done, or starts another (this one failed)
            del self.running[key]
            progress.close()

    @contextlib.asynccontextmanager
    async def _lock(self, key, label, progress: ProgressLog):
        """Hold ``<key>.lock``; the lock goes with the process if it dies."""
        os.makedirs(self.root, exist_ok=True)
        fd = os.open(self.prefix(key) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            waited = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waited:
                        progress.emit(5, f"Waiting for another hub process building environment {label} ...")
                        waited = True
                    await asyncio.sleep(LOCK_POLL)
            yield
        finally:
            os.close(fd)

    @staticmethod
    async def _run(what, argv, *, env, cwd, user, tail_lines, log, show):
        """Run ``argv`` (as ``user``, if given), its output into ``log`` and now and then (its
        latest line) to ``show``."""
        await log.write(f"--- {what}: {shlex.join(argv)}\n".encode())
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                limit=MAX_LINE,
                preexec_fn=as_user(user, umask=0o022),
            )
        except OSError as e:
            raise BuildError(f"{what} failed: cannot run {argv[0]} ({e})") from None
        tail = collections.deque(maxlen=tail_lines)
        shown = time.monotonic()
        try:
            async for line in process.stdout:
                await log.write(line)
                text = line.decode("utf8", "replace").strip()
                if text:
                    tail.append(text)
                    if time.monotonic() - shown >= OUTPUT_EVERY:
                        show(text)
                        shown = time.monotonic()
            status = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if status != 0:
            lines = f": {' | '.join(tail)}" if tail else ""
            raise BuildError(f"{what} failed (exit status {status}){lines} (the whole output: {log.name})")
