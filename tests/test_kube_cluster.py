"""End to end on a real cluster: a notebook made through the API runs as a pod with its
own PVC, within the restricted Pod Security Standard; deleting the notebook removes both.

Runs where ``KUBECONFIG`` points at a reachable cluster with the hub deployed from
``deploy/`` (see deploy/README.md), told where by:

* ``SUBMARINE_CLUSTER_URL``: the Submarine service, e.g. ``http://127.0.0.1:8080/services/submarine``
  after ``kubectl port-forward svc/proxy-public 8080:80``;
* ``SUBMARINE_CLUSTER_TOKEN``: an API token of a hub admin;
* ``SUBMARINE_CLUSTER_TIMEOUT``: seconds a notebook may take to run (default 900: images are big).

Anywhere else it skips, saying what is missing.
"""

import asyncio
import os
import uuid

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api, VersionApi
from kubernetes_asyncio.config import kube_config

from . import pss
from .harness import Api, wait_for
from .helpers import create

pytestmark = pytest.mark.cluster


async def _call(api_class, method, **kwargs):
    configuration = Configuration()  # this test's own: the process-wide default stays as it was
    await kube_config.load_kube_config(config_file=os.environ["KUBECONFIG"], client_configuration=configuration)
    async with ApiClient(configuration=configuration) as api:
        return await getattr(api_class(api), method)(**kwargs, _request_timeout=15)


def kube(method, **kwargs):
    """One CoreV1Api call on the cluster of $KUBECONFIG."""
    return asyncio.run(_call(CoreV1Api, method, **kwargs))


async def _as_dict(model) -> dict:
    async with ApiClient() as api:
        return api.sanitize_for_serialization(model)


@pytest.fixture(scope="module")
def service():
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("KUBECONFIG is not set: there is no Kubernetes cluster to test on")
    try:
        asyncio.run(_call(VersionApi, "get_code"))
    except Exception as e:  # any reason the cluster cannot be used is a reason to skip
        pytest.skip(f"the cluster of KUBECONFIG={os.environ['KUBECONFIG']} does not answer: {e}")
    missing = [name for name in ("SUBMARINE_CLUSTER_URL", "SUBMARINE_CLUSTER_TOKEN") if not os.environ.get(name)]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not set: deploy the hub with deploy/ and say where (see deploy/README.md)"
        )
    return Api(os.environ["SUBMARINE_CLUSTER_URL"], os.environ["SUBMARINE_CLUSTER_TOKEN"])


def test_a_notebook_runs_as_a_pod_with_its_pvc_and_goes_with_it(service):
    timeout = float(os.environ.get("SUBMARINE_CLUSTER_TIMEOUT", "900"))
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    notebook = create(service, name, owner=f"e2e-owner-{name}", resources="cpu=0.5,memory=1Gi", namespace=None)
    notebook_id, namespace = notebook["notebookId"], notebook["spec"]["meta"]["namespace"]
    selector = f"notebook-id={notebook_id}"

    def status():
        code, body = service.call("GET", f"/api/v1/notebook/{notebook_id}")
        assert code == 200, body
        assert body["result"]["status"] != "failed", body["result"]["reason"]
        return body["result"]["status"] == "running"

    try:
        wait_for(status, timeout, 5, f"{notebook_id} to run")
        (pod,) = kube("list_namespaced_pod", namespace=namespace, label_selector=selector).items
        assert pod.status.phase == "Running"
        assert pod.metadata.labels["notebook-owner-id"] == f"e2e-owner-{name}"
        # whether or not the namespace enforces it
        assert pss.violations(asyncio.run(_as_dict(pod))) == []
        (pvc,) = kube("list_namespaced_persistent_volume_claim", namespace=namespace, label_selector=selector).items
        assert pod.spec.volumes[0].persistent_volume_claim.claim_name == pvc.metadata.name
    finally:
        code, body = service.call("DELETE", f"/api/v1/notebook/{notebook_id}")
        assert code == 200, body

    def gone():
        pods = kube("list_namespaced_pod", namespace=namespace, label_selector=selector).items
        pvcs = kube("list_namespaced_persistent_volume_claim", namespace=namespace, label_selector=selector).items
        return not pods and not pvcs

    wait_for(gone, 300, 5, f"the pod and the PVC of {notebook_id} to be deleted")
    assert service.call("GET", f"/api/v1/notebook/{notebook_id}")[0] == 404
