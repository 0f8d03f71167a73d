"""Start a notebook's server in its image: install the kernelSpec, then exec the server.

    SUBMARINE_KERNEL_SPEC='{"name": "py3", "channels": [], ...}' \\
        python3 -m submarine_spawner.bootstrap jupyterhub-singleuser --ip=0.0.0.0

Steps, each an argv list run without a shell, each stopping everything with a
clear message on stderr and a non-zero exit if it fails:

1. ``conda install --yes -c <channel>... -- <condaDependencies>`` (if any);
2. ``pip install [--user] -- <pipDependencies>`` (if any);
3. register an ipykernel named ``kernelSpec.name`` for this interpreter;
4. ``pip install [--user] -- jupyterhub==<the hub's version>`` if the image has
   no ``jupyterhub-singleuser`` (Submarine's images run plain ``jupyter lab``);
5. exec the server command given as arguments.

The kernelSpec is data: JSON in ``$SUBMARINE_KERNEL_SPEC``, checked again here.
``conda`` and ``pip`` are the ones on PATH, as a user of the image would run them;
the kernel runs the interpreter running this program.

Pods run as a non-root user that cannot gain privileges. Where that user may not
write this interpreter's site-packages, pip installs with ``--user``: under
``~/.local``, on the home volume, so the packages persist across starts, this
interpreter (the kernel) imports them, and its ``bin`` goes first on PATH for the
server and the kernel. Conda installs into its environment only; a user who may
not write it gets a message saying so before anything is installed.

Images vary, so this file uses the standard library only and must stay a single
self-contained module: SubmarineKubeSpawner ships its source to the pod in an
environment variable (the package is not in user images).
"""

from __future__ import annotations  # the image's Python may be older than the hub's

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

SPEC_VAR = "SUBMARINE_KERNEL_SPEC"
DISPLAY_NAME_VAR = "SUBMARINE_KERNEL_DISPLAY_NAME"
HUB_VERSION_VAR = "SUBMARINE_JUPYTERHUB_VERSION"
SINGLEUSER = "jupyterhub-singleuser"

_KERNEL_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_CHANNEL = re.compile(
    r"^(?:https://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~%+/-]*)?"
    r"|[A-Za-z0-9][A-Za-z0-9_./-]*)$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PIP_OPTIONS = ["--no-input", "--disable-pip-version-check"]


class BootstrapError(Exception):
    """A step that cannot run or failed; the message says which and why."""


def say(message: str):
    print(f"submarine-bootstrap: {message}", file=sys.stderr, flush=True)


def _entries(spec: dict, key: str) -> list:
    entries = spec.get(key) or []
    if not isinstance(entries, list):
        raise BootstrapError(f"kernelSpec.{key} must be a list")
    for entry in entries:
        # the spawner validated these; whatever could act as an option is refused again
        if not isinstance(entry, str) or not entry.strip() or entry.lstrip().startswith("-") or _CONTROL.search(entry):
            raise BootstrapError(f"kernelSpec.{key}: {entry!r} is not a dependency")
    return entries


def load_spec(text: str | None) -> dict:
    """The kernelSpec from its JSON text, checked, with every list present."""
    if not text:
        raise BootstrapError(f"${SPEC_VAR} is not set: nothing says which kernel to build")
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise BootstrapError(f"${SPEC_VAR} is not JSON ({e})") from None
    if not isinstance(spec, dict):
        raise BootstrapError(f"${SPEC_VAR} must be a JSON object")
    name = spec.get("name")
    if not isinstance(name, str) or not _KERNEL_NAME.match(name):
        raise BootstrapError(f"kernelSpec.name {name!r} does not match {_KERNEL_NAME.pattern}")
    checked = {"name": name}
    for key in ("channels", "condaDependencies", "pipDependencies"):
        checked[key] = _entries(spec, key)
    for channel in checked["channels"]:
        if not _CHANNEL.match(channel):
            raise BootstrapError(f"kernelSpec.channels: {channel!r} is not a channel name or https URL")
    return checked


def conda_argv(conda: str, action: list, channels: list, specs: list) -> list:
    """``conda <action> --yes -c <channel>... -- <specs>``, each entry one argv entry
    (also the local spawner's, with mamba or micromamba as ``conda``)."""
    return [conda, *action, "--yes", *[arg for channel in channels for arg in ("-c", channel)], "--", *specs]


def pip_argv(pip: list, requirements: list, user: bool = False) -> list:
    """``pip install [--user] -- <requirements>``; ``pip`` is how to run it, e.g. ``[python, "-m", "pip"]``."""
    return [*pip, "install", *PIP_OPTIONS, *(["--user"] if user else []), "--", *requirements]


def plan(spec: dict, display_name: str, hub_version: str | None, user: bool) -> list:
    """The steps for a checked ``spec``, as ``(what, argv)``; ``user``: pip installs with ``--user``."""

    def program(name: str, needed_for: str) -> str:
        path = shutil.which(name)
        if path is None:
            raise BootstrapError(f"{needed_for} needs '{name}', and the image has none on PATH")
        return path

    steps = []
    if spec["condaDependencies"]:
        what = f"installing {len(spec['condaDependencies'])} conda dependencies"
        conda = program("conda", what)
        prefix = os.environ.get("CONDA_PREFIX") or sys.prefix  # the active environment, else this Python's
        if not os.access(prefix, os.W_OK):
            raise BootstrapError(
                f"{what} needs to write to the conda environment {prefix}, which uid {os.getuid()} may not: "
                "use an image whose conda environment belongs to the notebook's user (as in Jupyter's "
                "docker-stacks images: uid 1000, gid 100)"
            )
        steps.append((what, conda_argv(conda, ["install"], spec["channels"], spec["condaDependencies"])))
    if spec["pipDependencies"]:
        what = f"installing {len(spec['pipDependencies'])} pip dependencies"
        steps.append((what, pip_argv([program("pip", what)], spec["pipDependencies"], user)))
    steps.append(
        (
            f"registering the kernel '{spec['name']}'",
            [
                sys.executable,
                "-m",
                "ipykernel",
                "install",
                "--user",
                "--name",
                spec["name"],
                "--display-name",
                display_name,
            ],
        )
    )
    if shutil.which(SINGLEUSER) is None:
        requirement = f"jupyterhub=={hub_version}" if hub_version else "jupyterhub"
        what = f"installing {requirement} (the image has no {SINGLEUSER})"
        steps.append((what, pip_argv([program("pip", what)], [requirement], user)))
    return steps


def run(what: str, argv: list):
    say(what)
    try:
        status = subprocess.run(argv, stdin=subprocess.DEVNULL).returncode
    except OSError as e:
        raise BootstrapError(f"{what} failed: cannot run {argv[0]} ({e})") from None
    if status != 0:
        program = os.path.basename(argv[0])
        raise BootstrapError(f"{what} failed: {program} exited with status {status} (its output is above)")


def main(argv: list) -> int:
    """Bootstrap, then replace this process with the server ``argv``; returns only on failure."""
    if not argv:
        say("no server command given")
        return 2
    try:
        spec = load_spec(os.environ.get(SPEC_VAR))
        display_name = os.environ.get(DISPLAY_NAME_VAR) or spec["name"]
        user = not os.access(sysconfig.get_paths()["purelib"], os.W_OK)  # pip then installs with --user
        if user:  # also finds what earlier starts installed there (jupyterhub-singleuser)
            scripts = sysconfig.get_path("scripts", f"{os.name}_user")
            os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", os.defpath)])
        for what, step in plan(spec, display_name, os.environ.get(HUB_VERSION_VAR), user):
            run(what, step)
        say(f"starting {' '.join(argv)}")
        os.execvp(argv[0], argv)
    except BootstrapError as e:
        say(str(e))
    except OSError as e:
        say(f"cannot start the server {argv[0]!r}: {e}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
