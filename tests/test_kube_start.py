"""Starting, watching and ending a notebook's pod: the real kubespawner against the
stand-in API server of fake_kube.py, whose kubelet says what becomes of each pod."""

import asyncio
import json

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from .fake_kube import (
    OWNER,
    SEED_OPTIONS,
    bootstrap_failed,
    image_not_found,
    new_spawner,
    notebook_container,
    prepare,
    run,
    running,
)

POD = f"default/jupyter-{OWNER}--test-nb"


async def started(kube_api, **config):
    spawner = new_spawner(kube_api, **config)
    await prepare(spawner, SEED_OPTIONS)
    return spawner, await spawner.start()


def test_a_notebook_starts_as_a_pod_with_its_pvc(kube_api):
    kube_api.reset(running)

    async def start_and_stop():
        spawner, url = await started(kube_api)
        pod = kube_api.pods[POD]
        await spawner.stop()
        return url, pod

    url, pod = run(start_and_stop)
    assert url == "http://10.1.2.3:8888"
    assert pod["metadata"]["labels"]["notebook-id"] == SEED_OPTIONS["notebookId"]
    assert pod["spec"]["containers"][0]["image"] == SEED_OPTIONS["environment"]["dockerImage"]
    made = [request for request in kube_api.requests if request[0] != "GET"]
    # the workspace first, then the pod; stopping deletes the pod and keeps the workspace
    assert made == [
        ("POST", "/api/v1/namespaces/default/persistentvolumeclaims"),
        ("POST", "/api/v1/namespaces/default/pods"),
        ("DELETE", f"/api/v1/namespaces/{POD.replace('default/', 'default/pods/')}"),
    ]


def user_not_verifiable(pod: dict) -> dict:
    """What the kubelet says of a pod with runAsNonRoot, no runAsUser and an image whose USER is a name."""
    return {
        "phase": "Pending",
        "containerStatuses": [
            notebook_container(
                pod,
                state={
                    "waiting": {
                        "reason": "CreateContainerConfigError",
                        "message": "container has runAsNonRoot and image has non-numeric user (jovyan), cannot "
                        f'verify user is non-root (pod: "{pod["metadata"]["name"]}_default", container: notebook)',
                    }
                },
            )
        ],
    }


@pytest.mark.parametrize(
    "kubelet, config, reason",
    [
        (
            bootstrap_failed,
            {},
            "container notebook exited with status 1 (Error): ERROR: Could not find a version that "
            "satisfies the requirement pandsa (from versions: none) | ERROR: No matching distribution "
            "found for pandsa | submarine-bootstrap: installing 1 pip dependencies failed: pip exited "
            "with status 1 (its output is above)",
        ),
        (image_not_found, {}, 'ImagePullBackOff: Back-off pulling image "apache/submarine:jupyter-notebook-0.6.0"'),
        (
            user_not_verifiable,
            {"uid": None},
            "CreateContainerConfigError: container has runAsNonRoot and image has non-numeric user (jovyan), "
            f'cannot verify user is non-root (pod: "{POD.split("/")[1]}_default", container: notebook)',
        ),
    ],
)
def test_a_pod_that_cannot_start_fails_the_start_at_once(kube_api, kubelet, config, reason):
    kube_api.reset(kubelet)

    async def start():
        loop = asyncio.get_running_loop()
        begun = loop.time()
        with pytest.raises(RuntimeError) as error:
            await started(kube_api, start_timeout=120, **config)
        return error.value, loop.time() - begun

    error, took = run(start)
    assert str(error) == f"pod {POD} cannot start: {reason}"
    assert took < 10  # not start_timeout


def test_an_unexpected_exit_says_why(kube_api):
    kube_api.reset(running)

    async def crash():
        spawner, _ = await started(kube_api)
        kube_api.pods[POD]["status"]["containerStatuses"][0]["state"] = {
            "terminated": {"exitCode": 137, "reason": "OOMKilled"}
        }
        while "terminated" not in spawner._pod()["status"]["containerStatuses"][0]["state"]:
            await asyncio.sleep(0.1)  # kubespawner's watcher has not seen it yet
        return await spawner.poll(), spawner.last_exit

    status, last_exit = run(crash)
    assert status == 137
    assert last_exit["message"] == "exit status 137: container notebook exited with status 137 (OOMKilled)"


def test_pods_outside_the_restricted_standard_are_refused(kube_api):
    # as in a namespace that enforces it: so the pods the other tests start meet it
    kube_api.reset(running)

    async def start_privileged():
        with pytest.raises(ApiException) as error:
            await started(kube_api, privileged=True)
        return error.value

    error = run(start_privileged)
    assert error.status == 403
    message = json.loads(error.body)["message"]
    assert message.endswith('violates PodSecurity "restricted:latest": spec.containers[notebook] is privileged')
    assert POD not in kube_api.pods
