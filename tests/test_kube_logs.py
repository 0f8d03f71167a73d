"""/logs on Kubernetes: the notebook's pod, found by its label, read through the API."""

import asyncio

from hub_service.logs import KubeLogs
from submarine_spawner.k8s import label_value

NOTEBOOK = {
    "notebook_id": "notebook_1626160071451_0001",
    "namespace": "default",
    "owner": "alice",
    "server_name": "test-nb",
}


def test_the_pods_last_lines(kube_api):
    kube_api.reset()
    kube_api.pods["default/jupyter-alice--test-nb"] = {
        "metadata": {
            "name": "jupyter-alice--test-nb",
            "namespace": "default",
            "labels": {"notebook-id": label_value(NOTEBOOK["notebook_id"])},
        }
    }
    kube_api.logs["default/jupyter-alice--test-nb"] = "starting\nJupyter Server is running\n"
    lines = asyncio.run(KubeLogs().tail(NOTEBOOK, 10))
    assert lines == ["starting", "Jupyter Server is running"]
    path = next(path for method, path in kube_api.requests if path.endswith("/log"))
    assert path == "/api/v1/namespaces/default/pods/jupyter-alice--test-nb/log"


def test_no_pod_no_lines(kube_api):
    kube_api.reset()
    assert asyncio.run(KubeLogs().tail(NOTEBOOK, 10)) == []
