import json
import os
import shutil
import subprocess
import tempfile
import threading
import uuid

import pytest
from kubernetes_asyncio.config import kube_config

from .fake_kube import FakeKubeAPI
from .harness import Hub, notebook_users
from .helpers import Notebooks, postgres_database


def pytest_configure(config):
    """A temporary directory of this run's own that other OS users may pass through: the hubs
    (as root) run notebooks as unprivileged users, who must reach their workspaces in it.
    pytest's own is private, and each run of the same user closes it again."""
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="submarine-tests-")
        os.chmod(config.option.basetemp, 0o711)
        config.stash[made_basetemp] = config.option.basetemp


def pytest_sessionfinish(session, exitstatus):
    """The run's directory goes when everything passed (kept, with the hubs' logs, otherwise)."""
    made = session.config.stash.get(made_basetemp, None)
    if made and exitstatus == 0:
        shutil.rmtree(made, ignore_errors=True)


made_basetemp = pytest.StashKey[str]()


@pytest.fixture(scope="session", autouse=True)
def forget_notebook_users(tmp_path_factory):
    """The OS users the hubs of this run made for notebooks go when it ends (as root): those
    whose home is in this run's directory, not another run's."""
    yield
    if os.getuid() == 0:
        for name in sorted(notebook_users(within=tmp_path_factory.getbasetemp())):
            subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """One hub for the tests that do not restart it; each test uses its own users."""
    hub = Hub(tmp_path_factory.mktemp("hub")).start()
    yield hub
    hub.stop()


@pytest.fixture
def unique():
    """A short random suffix: users and notebooks of one test never meet another's."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def notebooks():
    """Make notebooks with ``notebooks.create`` (or ``track`` them): they are deleted when the
    test ends, passed or failed."""
    made = Notebooks()
    yield made
    made.delete_all()


@pytest.fixture
def alice(hub, unique):
    name = f"alice-{unique}"
    return name, hub.client(name)


@pytest.fixture
def bob(hub, unique):
    name = f"bob-{unique}"
    return name, hub.client(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each database the service supports, empty."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'submarine.sqlite'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture(scope="module")
def kube_api(tmp_path_factory):
    """The API server the spawners talk to; KubeSpawner loads a kubeconfig when made."""
    server = FakeKubeAPI()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "test", "cluster": {"server": server.url}}],
                "users": [{"name": "test", "user": {"token": "test-token"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
            }
        )
    )
    with pytest.MonkeyPatch.context() as patch:
        # the client reads $KUBECONFIG once, when first imported
        patch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
        yield server
    server.shutdown()
