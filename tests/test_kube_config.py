"""jupyterhub_config.py switched to Kubernetes by SUBMARINE_SPAWNER=kubernetes."""

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

CONFIG = Path(__file__).resolve().parent.parent / "jupyterhub_config.py"


def load(monkeypatch, tmp_path, **env):
    """The config the hub (and the service, which reads the same file) gets with ``env``."""
    monkeypatch.setenv("SUBMARINE_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()


def test_kubernetes_by_one_setting(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path, SUBMARINE_SPAWNER="kubernetes")
    assert c.JupyterHub.spawner_class == "submarine_spawner.SubmarineKubeSpawner"
    assert c.JupyterHub.cleanup_servers is False
    assert c.JupyterHub.hub_bind_url == "http://0.0.0.0:8081"
    assert c.JupyterHub.hub_connect_url == "http://hub:8081"
    (service,) = [service for service in c.JupyterHub.services if service["name"] == "submarine"]
    assert service["url"] == "http://hub:32080"
    assert c.SubmarineService.bind_url == "http://0.0.0.0:32080"
    assert c.KubeSpawner.namespace == c.SubmarinePolicy.default_namespace == "default"
    assert c.SubmarinePolicy.allowed_namespaces == ["default"]
    assert c.ResourcePolicy.max_extended == {} and c.ResourcePolicy.max_cpu == 0


def test_names_and_namespaces_are_settings(monkeypatch, tmp_path):
    c = load(
        monkeypatch,
        tmp_path,
        SUBMARINE_SPAWNER="kubernetes",
        SUBMARINE_HUB_HOST="jhub-hub.jhub",
        SUBMARINE_NAMESPACE="jhub",
        SUBMARINE_ALLOWED_NAMESPACES="jhub, team-a",
    )
    assert c.JupyterHub.hub_connect_url == "http://jhub-hub.jhub:8081"
    assert c.KubeSpawner.namespace == c.SubmarinePolicy.default_namespace == "jhub"
    assert c.SubmarinePolicy.allowed_namespaces == ["jhub", "team-a"]


@pytest.mark.parametrize("spawner", ["", "local"])
def test_local_stays_the_default(monkeypatch, tmp_path, spawner):
    c = load(monkeypatch, tmp_path, SUBMARINE_SPAWNER=spawner)
    assert c.JupyterHub.spawner_class == "submarine_spawner.SubmarineLocalSpawner"
    assert "SubmarineKubeSpawner" not in c
