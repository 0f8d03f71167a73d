"""The pod bootstrap as a program of its own, in a fake image.

The image is a directory on PATH holding fake ``conda``, ``pip`` and
``jupyterhub-singleuser`` programs that record their argv; the kernel is
registered for real (ipykernel) under a temporary HOME. The bootstrap runs as the
pod runs it (``python -c LOADER`` with its source in the environment) and as a module.
A pod's user who may not write some directories (the interpreter's site-packages,
the conda environment) is played by making the bootstrap see them as not writable,
whoever runs the tests.
"""

import ast
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from submarine_spawner import bootstrap
from submarine_spawner.kube import BOOTSTRAP_VAR, LOADER

SERVER_ARGS = ["jupyterhub-singleuser", "--ip=0.0.0.0", "--port=8888"]
FAKE = """\
#!{python}
# a fake {name}: records its argv, then does what the test asked
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(sys.argv) + "\\n")
if "{name}" == "pip" and any(arg.startswith("jupyterhub") for arg in sys.argv):
    # installing JupyterHub brings jupyterhub-singleuser, beside pip or in the user's bin
    where = os.path.join(os.environ["HOME"], ".local/bin") if "--user" in sys.argv else os.path.dirname(sys.argv[0])
    os.makedirs(where, exist_ok=True)
    os.link(os.environ["FAKE_SINGLEUSER"], os.path.join(where, "jupyterhub-singleuser"))
sys.exit(int(os.environ.get("FAKE_FAIL_" + "{name}".upper().replace("-", "_"), "0")))
"""

# run before the bootstrap: os.access says the directories in $FAKE_READ_ONLY are not writable
READ_ONLY = """\
import os
access = os.access
read_only = os.environ.pop("FAKE_READ_ONLY").split(os.pathsep)
os.access = lambda path, mode, **kw: not (mode & os.W_OK and str(path) in read_only) and access(path, mode, **kw)
"""


class Image:
    """A fake image layout: ``bin`` on PATH, a HOME, and the log of what ran."""

    def __init__(self, root: Path, programs=("conda", "pip", "jupyterhub-singleuser")):
        self.root = root
        self.bin = root / "bin"
        self.home = root / "home"
        self.log = root / "argv.jsonl"
        self.bin.mkdir()
        self.home.mkdir()
        spare = root / "spare"
        spare.mkdir()
        for name in ("conda", "pip", "jupyterhub-singleuser"):
            where = self.bin if name in programs else spare
            path = where / name
            path.write_text(FAKE.format(python=sys.executable, name=name))
            path.chmod(0o755)
        self.spare_singleuser = spare / "jupyterhub-singleuser"

    def run(
        self, kernel_spec, *, via_loader=True, hub_version="6.1.1", read_only=(), **env
    ) -> subprocess.CompletedProcess:
        environ = {
            "PATH": str(self.bin),
            "HOME": str(self.home),
            "FAKE_LOG": str(self.log),
            "FAKE_SINGLEUSER": str(self.spare_singleuser),
            bootstrap.DISPLAY_NAME_VAR: "notebook-env",
            bootstrap.HUB_VERSION_VAR: hub_version,
            **env,
        }
        if kernel_spec is not None:
            environ[bootstrap.SPEC_VAR] = json.dumps(kernel_spec)
        if via_loader:  # as the pod does
            environ[BOOTSTRAP_VAR] = Path(bootstrap.__file__).read_text()
            argv = [sys.executable, "-c", LOADER, *SERVER_ARGS]
            if read_only:
                environ["FAKE_READ_ONLY"] = os.pathsep.join(str(path) for path in read_only)
                argv[2] = READ_ONLY + LOADER
        else:  # the module of the tree under test, not whichever one is installed
            environ["PYTHONPATH"] = str(Path(bootstrap.__file__).parents[1])
            argv = [sys.executable, "-m", "submarine_spawner.bootstrap", *SERVER_ARGS]
        return subprocess.run(argv, env=environ, cwd=self.root, capture_output=True, text=True, timeout=120)

    def ran(self) -> list:
        """The argv of every fake program run, in order, with paths as names."""
        if not self.log.exists():
            return []
        runs = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [[os.path.basename(argv[0]), *argv[1:]] for argv in runs]

    def kernel(self, name: str) -> dict:
        return json.loads((self.home / ".local/share/jupyter/kernels" / name / "kernel.json").read_text())


@pytest.fixture
def image(tmp_path):
    return Image(tmp_path)


SPEC = {
    "name": "submarine_jupyter_py3",
    "channels": ["defaults", "conda-forge"],
    "condaDependencies": ["numpy>=1.24,<2", "conda-forge::pyarrow 15.*"],
    "pipDependencies": ["pandas", "requests[socks]==2.32.3"],
}


@pytest.mark.parametrize("via_loader", [True, False], ids=["as-in-the-pod", "as-a-module"])
def test_installs_registers_and_execs_the_server(image, via_loader):
    result = image.run(SPEC, via_loader=via_loader)
    assert result.returncode == 0, result.stderr
    assert image.ran() == [
        [
            "conda",
            "install",
            "--yes",
            "-c",
            "defaults",
            "-c",
            "conda-forge",
            "--",
            "numpy>=1.24,<2",
            "conda-forge::pyarrow 15.*",
        ],
        ["pip", "install", "--no-input", "--disable-pip-version-check", "--", "pandas", "requests[socks]==2.32.3"],
        SERVER_ARGS,
    ]
    kernel = image.kernel("submarine_jupyter_py3")
    assert kernel["display_name"] == "notebook-env"
    assert kernel["argv"][0] == sys.executable
    assert "submarine-bootstrap: installing 2 pip dependencies" in result.stderr
    assert "submarine-bootstrap: starting jupyterhub-singleuser --ip=0.0.0.0 --port=8888" in result.stderr


def test_the_server_does_not_see_the_bootstrap_source(image):
    dump_env = image.bin / "jupyterhub-singleuser"
    dump_env.write_text(f"#!{sys.executable}\nimport json, os\nprint(json.dumps(sorted(os.environ)))\n")
    result = image.run({"name": "py3"})
    names = json.loads(result.stdout.splitlines()[-1])
    assert BOOTSTRAP_VAR not in names and bootstrap.SPEC_VAR in names


def test_nothing_to_install_only_registers_the_kernel(image):
    result = image.run({"name": "py3"})
    assert result.returncode == 0, result.stderr
    assert image.ran() == [SERVER_ARGS]
    assert image.kernel("py3")["display_name"] == "notebook-env"


def test_an_image_without_jupyterhub_gets_the_hubs_version(tmp_path):
    image = Image(tmp_path, programs=("conda", "pip"))
    result = image.run({"name": "py3", "pipDependencies": ["pandas"]})
    assert result.returncode == 0, result.stderr
    assert image.ran() == [
        ["pip", "install", "--no-input", "--disable-pip-version-check", "--", "pandas"],
        ["pip", "install", "--no-input", "--disable-pip-version-check", "--", "jupyterhub==6.1.1"],
        SERVER_ARGS,
    ]


# --- as the pod's non-root user ---------------------------------------------------------------

PIP = ["pip", "install", "--no-input", "--disable-pip-version-check"]
SITE_PACKAGES = sysconfig.get_paths()["purelib"]


def test_pip_installs_into_the_users_home_when_site_packages_is_not_writable(tmp_path):
    image = Image(tmp_path, programs=("conda", "pip"))
    spec = {"name": "py3", "condaDependencies": ["numpy"], "pipDependencies": ["pandas"]}
    result = image.run(spec, read_only=[SITE_PACKAGES])
    assert result.returncode == 0, result.stderr
    assert image.ran() == [
        ["conda", "install", "--yes", "--", "numpy"],  # into its own environment, which the user may write
        [*PIP, "--user", "--", "pandas"],
        [*PIP, "--user", "--", "jupyterhub==6.1.1"],
        SERVER_ARGS,  # found in ~/.local/bin
    ]
    # the next start of the notebook finds the server its first start installed on the home volume
    image.log.unlink()
    assert image.run(spec, read_only=[SITE_PACKAGES]).returncode == 0
    assert image.ran() == [["conda", "install", "--yes", "--", "numpy"], [*PIP, "--user", "--", "pandas"], SERVER_ARGS]


def test_the_server_and_the_kernel_find_what_pip_installed_for_the_user(image):
    dump_env = image.bin / "jupyterhub-singleuser"
    dump_env.write_text(f"#!{sys.executable}\nimport json, os\nprint(json.dumps(dict(os.environ)))\n")
    result = image.run({"name": "py3"}, read_only=[SITE_PACKAGES])
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout.splitlines()[-1])
    assert env["PATH"].split(os.pathsep) == [str(image.home / ".local/bin"), str(image.bin)]
    assert env["HOME"] == str(image.home) and "PYTHONNOUSERSITE" not in env
    # the kernel runs this interpreter, whose user site is where pip --user installs: on the home volume
    python = image.kernel("py3")["argv"][0]
    user_site = subprocess.run(
        [python, "-c", "import site; print(site.getusersitepackages())"],
        env={"HOME": str(image.home)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(user_site.stdout.strip()).is_relative_to(image.home / ".local")


@pytest.mark.parametrize("active", [None, "env"], ids=["base", "active-environment"])
def test_conda_dependencies_need_a_conda_environment_the_user_may_write(image, tmp_path, active):
    prefix = str(tmp_path / active) if active else sys.prefix
    env = {"CONDA_PREFIX": prefix} if active else {}
    result = image.run(
        {"name": "py3", "condaDependencies": ["numpy"], "pipDependencies": ["pandas"]},
        read_only=[prefix, SITE_PACKAGES],
        **env,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"submarine-bootstrap: installing 1 conda dependencies needs to write to the conda environment {prefix}, "
        f"which uid {os.getuid()} may not: use an image whose conda environment belongs to the notebook's user "
        "(as in Jupyter's docker-stacks images: uid 1000, gid 100)"
    )
    assert image.ran() == []  # nothing installed


HOSTILE = [
    "pkg; touch {tmp}/pwned",
    "$(touch {tmp}/pwned)",
    "`touch {tmp}/pwned`",
    "x' || touch '{tmp}/pwned",
    "a && touch {tmp}/pwned",
    "> {tmp}/pwned",
]


def test_hostile_strings_are_argv_entries_never_shell(image, tmp_path):
    # the spawner refuses these (see test_kernelspec); were one to get through, it stays one argv entry
    hostile = [text.format(tmp=tmp_path) for text in HOSTILE]
    result = image.run({"name": "py3", "condaDependencies": hostile, "pipDependencies": hostile})
    assert result.returncode == 0, result.stderr
    conda, pip, _ = image.ran()
    assert conda[-len(hostile) :] == hostile and pip[-len(hostile) :] == hostile
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"name": "py3", "pipDependencies": ["-r /etc/passwd"]}, "kernelSpec.pipDependencies: '-r /etc/passwd'"),
        (
            {"name": "py3", "pipDependencies": ["--index-url=https://evil.example"]},
            "kernelSpec.pipDependencies: '--index-url=https://evil.example' is not a dependency",
        ),
        (
            {"name": "py3", "condaDependencies": ["numpy\ntouch /tmp/x"]},
            "kernelSpec.condaDependencies: 'numpy\\ntouch",
        ),
        ({"name": "py3", "channels": ["-c evil"]}, "kernelSpec.channels: '-c evil' is not a dependency"),
        ({"name": "py3", "channels": ["http://insecure.example/x"]}, "is not a channel name or https URL"),
        ({"name": "py3; rm -rf /"}, "kernelSpec.name 'py3; rm -rf /' does not match"),
        ({"name": "py3", "pipDependencies": "pandas"}, "kernelSpec.pipDependencies must be a list"),
        (None, "$SUBMARINE_KERNEL_SPEC is not set"),
    ],
)
def test_bad_specs_stop_before_anything_runs(image, spec, message):
    result = image.run(spec)
    assert result.returncode == 1
    assert message in result.stderr
    assert image.ran() == []


def test_a_failing_install_ends_the_start_with_a_clear_message(image):
    result = image.run(SPEC, FAKE_FAIL_PIP="3")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "submarine-bootstrap: installing 2 pip dependencies failed: pip exited with status 3 (its output is above)"
    )
    assert [argv[0] for argv in image.ran()] == ["conda", "pip"]  # the server never started


def test_conda_dependencies_need_conda(tmp_path):
    image = Image(tmp_path, programs=("pip", "jupyterhub-singleuser"))
    result = image.run({"name": "py3", "condaDependencies": ["numpy"]})
    assert result.returncode == 1
    assert "installing 1 conda dependencies needs 'conda', and the image has none on PATH" in result.stderr


def test_a_missing_server_command_is_said(tmp_path):
    image = Image(tmp_path, programs=("conda",))  # neither pip nor jupyterhub
    result = image.run({"name": "py3"})
    assert result.returncode == 1
    assert "needs 'pip', and the image has none on PATH" in result.stderr


def test_the_bootstrap_needs_only_the_standard_library_of_python_3_7():
    source = Path(bootstrap.__file__).read_text()
    ast.parse(source, feature_version=(3, 7))  # Submarine's images run Python 3.7
    imported = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imported <= {"__future__", "json", "os", "re", "shutil", "subprocess", "sys", "sysconfig"}, imported
