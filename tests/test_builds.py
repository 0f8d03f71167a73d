"""Environment builds without a hub: keys, commands, progress, and real builds with pip.

Builds install wheels the tests make (tests/wheels.py) with no package index. conda is
not on these machines: a fake one, which records its argv and makes the env as a venv,
stands in for it where the conda path is followed to its end.
"""

import asyncio
import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from submarine_spawner.builds import (
    HUB_ENVIRONMENT,
    LINK_HUB_PACKAGES,
    BuildError,
    Builds,
    Environment,
    build_environ,
    build_key,
    build_steps,
    find_conda,
    hub_package_dirs,
)
from submarine_spawner.contract import KernelSpec
from submarine_spawner.progress import ProgressLog

from .wheels import make_wheel, requirement

ENV = {**os.environ, "PIP_NO_INDEX": "1"}


def in_event_loop(test):
    """Run an async test in its own event loop, as the hub runs builds in its own."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def spec(**fields) -> KernelSpec:
    return KernelSpec.model_validate({"name": "py3", **fields}, context={"allow_pip_urls": True})


def test_the_key_is_what_the_build_depends_on():
    key = build_key(spec(pipDependencies=["pandas"]))
    assert key == build_key(spec(name="other", pipDependencies=["pandas"], channels=["conda-forge"]))
    assert key != build_key(spec(pipDependencies=["pandas==2.2"]))
    conda = build_key(spec(condaDependencies=["numpy"], channels=["defaults"]))
    assert conda != build_key(spec(condaDependencies=["numpy"], channels=["conda-forge"]))


def test_pip_dependencies_build_a_venv_that_sees_the_hubs_packages():
    deps = ["pandas", "requests[socks]==2.32.3", 'tomli; python_version < "3.11"']
    steps = build_steps(spec(pipDependencies=deps), "/envs/k", "team")
    assert steps == [
        (
            "Creating a virtual environment for environment team",
            [sys.executable, "-m", "venv", "--without-pip", "/envs/k"],
        ),
        (
            "Giving environment team the hub's ipykernel and pip",
            ["/envs/k/bin/python", "-c", LINK_HUB_PACKAGES, *hub_package_dirs()],
        ),
        (
            "Installing 3 pip dependencies for environment team",
            ["/envs/k/bin/python", "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--", *deps],
        ),
    ]
    assert hub_package_dirs() and all(Path(path).is_dir() for path in hub_package_dirs())


def test_conda_dependencies_make_a_conda_env_with_ipykernel():
    kernel = spec(
        channels=["defaults", "conda-forge"],
        condaDependencies=["numpy>=1.24,<2", "conda-forge::pyarrow 15.*"],
        pipDependencies=["pandas"],
    )
    steps = build_steps(kernel, "/envs/k", "team", conda="/opt/bin/micromamba")
    assert steps == [
        (
            "Installing 2 conda dependencies for environment team with micromamba",
            [
                "/opt/bin/micromamba",
                "create",
                "--prefix",
                "/envs/k",
                "--yes",
                "-c",
                "defaults",
                "-c",
                "conda-forge",
                "--",
                "numpy>=1.24,<2",
                "conda-forge::pyarrow 15.*",
                "ipykernel",
                "pip",
            ],
        ),
        (
            "Installing 1 pip dependencies for environment team",
            [
                "/envs/k/bin/python",
                "-m",
                "pip",
                "install",
                "--no-input",
                "--disable-pip-version-check",
                "--",
                "pandas",
            ],
        ),
    ]
    assert build_steps(spec(condaDependencies=["numpy"]), "/e", "x", "conda")[0][1][-2:] == ["numpy", "ipykernel"]


def test_builds_see_only_the_variables_kept():
    environ = {
        "PATH": "/bin",
        "PIP_INDEX_URL": "https://pypi.example/simple",
        "LC_ALL": "C.UTF-8",
        "SUBMARINE_ADMIN_TOKEN": "secret",
        "JUPYTERHUB_API_TOKEN": "secret",
    }
    assert build_environ(["PATH", "PIP_*", "LC_*"], environ) == {
        "PATH": "/bin",
        "PIP_INDEX_URL": "https://pypi.example/simple",
        "LC_ALL": "C.UTF-8",
    }


def test_kernel_json():
    assert HUB_ENVIRONMENT.kernel_json("notebook-env") == {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "notebook-env",
        "language": "python",
        "metadata": {"debugger": True},
    }
    built = Environment("/envs/k/bin/python", "/envs/k").kernel_json("team")
    assert built["argv"][0] == "/envs/k/bin/python"
    assert built["env"] == {"PATH": "/envs/k/bin" + os.pathsep + "${PATH}"}


def test_find_conda(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_conda("") is None
    for name in ("micromamba", "mamba"):
        program = tmp_path / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    assert find_conda("") == str(tmp_path / "mamba")  # the first of conda, mamba, micromamba
    assert find_conda("micromamba") == str(tmp_path / "micromamba")
    assert find_conda(str(tmp_path / "micromamba")) == str(tmp_path / "micromamba")
    assert find_conda("conda") is None


@in_event_loop
async def test_progress_is_replayed_to_every_reader():
    log = ProgressLog()
    log.emit(10, "one")
    early = []

    async def read(into):
        async for event in log.follow():
            into.append(event["message"])

    reading = asyncio.ensure_future(read(early))
    await asyncio.sleep(0)
    log.emit(20, "two")
    late = []
    log.close()
    await asyncio.gather(reading, read(late))
    assert early == late == ["one", "two"]
    log.reset()
    assert log.events == [] and not log.closed


# --- real builds ---------------------------------------------------------------------------------


def count_builds(builds: Builds, kernel: KernelSpec) -> int:
    return Path(builds.log_path(build_key(kernel))).read_text().count(" building environment ")


def python_says(environment: Environment, code: str) -> str:
    return subprocess.run([environment.python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


@in_event_loop
async def test_a_build_installs_the_pip_dependencies_once(tmp_path):
    builds = Builds(str(tmp_path / "environments"))
    kernel = spec(pipDependencies=[requirement(make_wheel(tmp_path, "alpha", source="VALUE = 'alpha'\n"))])
    progress = ProgressLog()
    environment = await builds.ensure(kernel, "team", progress, env=ENV)
    assert environment.prefix == builds.prefix(build_key(kernel))
    assert python_says(environment, "import alpha, ipykernel; print(alpha.VALUE)") == "alpha"
    # the pip step, then perhaps its latest output line (shown at most once a second)
    messages = [event["message"] for event in progress.events]
    pip_step = messages.index("Installing 1 pip dependencies for environment team ...")
    assert all(m.startswith("Installing 1 pip dependencies for environment team: ") for m in messages[pip_step + 1 :])

    again = ProgressLog()
    assert await builds.ensure(kernel, "team", again, env=ENV) == environment
    assert [event["message"] for event in again.events] == [f"Environment team is built ({environment.prefix})"]
    assert count_builds(builds, kernel) == 1


@in_event_loop
async def test_no_dependencies_no_build(tmp_path):
    builds = Builds(str(tmp_path / "environments"))
    assert await builds.ensure(spec(channels=["conda-forge"]), "plain", ProgressLog()) == HUB_ENVIRONMENT
    assert not (tmp_path / "environments").exists()


@in_event_loop
async def test_concurrent_starts_share_one_build(tmp_path):
    builds = Builds(str(tmp_path / "environments"))
    kernel = spec(pipDependencies=[requirement(make_wheel(tmp_path, "beta"))])
    logs = [ProgressLog() for _ in range(3)]
    environments = await asyncio.gather(*(builds.ensure(kernel, "team", log, env=ENV) for log in logs))
    assert len(set(environments)) == 1
    assert count_builds(builds, kernel) == 1
    # every start saw the build's progress
    assert all(
        "Installing 1 pip dependencies for environment team ..." in [e["message"] for e in log.events] for log in logs
    )


BUILD_IN_ANOTHER_PROCESS = """
import asyncio, os, sys
from submarine_spawner.builds import Builds
from submarine_spawner.contract import KernelSpec
from submarine_spawner.progress import ProgressLog
kernel = KernelSpec.model_validate({"name": "py3", "pipDependencies": [sys.argv[2]]}, context={"allow_pip_urls": True})
print(asyncio.run(Builds(sys.argv[1]).ensure(kernel, "team", ProgressLog(), env=dict(os.environ))).python)
"""


def test_hub_processes_take_turns_and_share_the_build(tmp_path):
    root = tmp_path / "environments"
    dependency = requirement(make_wheel(tmp_path, "gamma"))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_IN_ANOTHER_PROCESS, str(root), dependency],
            env=ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    pythons = {process.communicate(timeout=300)[0].strip() for process in processes}
    assert [process.returncode for process in processes] == [0, 0]
    assert len(pythons) == 1
    assert count_builds(Builds(str(root)), spec(pipDependencies=[dependency])) == 1


@in_event_loop
async def test_a_failed_build_says_why_and_is_not_kept(tmp_path):
    builds = Builds(str(tmp_path / "environments"))
    kernel = spec(pipDependencies=["no-such-package-anywhere"])
    key = build_key(kernel)
    for attempt in (1, 2):
        with pytest.raises(BuildError) as error:
            await builds.ensure(kernel, "team", ProgressLog(), env=ENV)
        message = str(error.value)
        assert message.startswith("Installing 1 pip dependencies for environment team failed (exit status 1): ")
        assert "No matching distribution found for no-such-package-anywhere" in message
        assert message.endswith(f"(the whole output: {builds.log_path(key)})")
        assert not Path(builds.prefix(key)).exists() and builds.built(key) is None
        assert count_builds(builds, kernel) == attempt
        assert "--- failed: " in Path(builds.log_path(key)).read_text()


@in_event_loop
async def test_a_start_given_up_leaves_the_build_running(tmp_path):
    builds = Builds(str(tmp_path / "environments"))
    kernel = spec(pipDependencies=[requirement(make_wheel(tmp_path, "delta"))])
    progress = ProgressLog()
    start = asyncio.ensure_future(builds.ensure(kernel, "team", progress, env=ENV))
    while not progress.events:
        await asyncio.sleep(0.01)
    start.cancel()
    build = builds.running[build_key(kernel)]
    environment = await build.task
    assert builds.built(build_key(kernel)) == environment


@in_event_loop
async def test_conda_dependencies_without_conda(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    builds = Builds(str(tmp_path / "environments"))
    kernel = spec(condaDependencies=["numpy"])
    with pytest.raises(
        BuildError,
        match="^Environment team has conda dependencies, and the hub has no conda: none of "
        r"conda, mamba, micromamba is on the hub's PATH \(",
    ):
        await builds.ensure(kernel, "team", ProgressLog())
    with pytest.raises(BuildError, match="'/opt/nothing/conda' is not a program"):
        await builds.ensure(kernel, "team", ProgressLog(), conda_path="/opt/nothing/conda")


FAKE_CONDA = """#!{python}
# a fake conda: records its argv, and makes the env a venv that sees the test's packages
import json, os, subprocess, sys
with open(os.environ["FAKE_CONDA_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
prefix = sys.argv[sys.argv.index("--prefix") + 1]
subprocess.run([sys.executable, "-m", "venv", "--without-pip", prefix], check=True)
subprocess.run([prefix + "/bin/python", "-c", {link!r}, *{dirs!r}], check=True)
"""


@in_event_loop
async def test_conda_dependencies_are_built_with_conda_then_pip(tmp_path):
    conda = tmp_path / "bin" / "conda"
    conda.parent.mkdir()
    conda.write_text(FAKE_CONDA.format(python=sys.executable, link=LINK_HUB_PACKAGES, dirs=hub_package_dirs()))
    conda.chmod(0o755)
    argv_log = tmp_path / "conda-argv.jsonl"
    builds = Builds(str(tmp_path / "environments"))
    kernel = spec(
        channels=["conda-forge"],
        condaDependencies=["numpy>=1.24"],
        pipDependencies=[requirement(make_wheel(tmp_path, "epsilon", source="VALUE = 5\n"))],
    )
    environment = await builds.ensure(
        kernel, "science", ProgressLog(), conda_path=str(conda), env={**ENV, "FAKE_CONDA_LOG": str(argv_log)}
    )
    assert argv_log.read_text().splitlines() == [
        f'["create", "--prefix", "{environment.prefix}", "--yes", "-c", "conda-forge", "--", "numpy>=1.24", '
        '"ipykernel", "pip"]'
    ]
    assert python_says(environment, "import epsilon; print(epsilon.VALUE)") == "5"


def test_a_notebook_named_default_server_has_a_workspace_of_its_own():
    from submarine_spawner.local import notebook_path

    assert notebook_path("alice", "") != notebook_path("alice", "default-server")
