"""Spawn progress events to notebook statuses, with sequences as the hub streams them.

On Kubernetes each of kubespawner's progress events carries the pod's Kubernetes
Event as ``raw_event``; the sequences below are what kubelet and the scheduler
report for a start, a missing image, an unschedulable pod and a failing bootstrap.
"""

import pytest

from hub_service import statuses
from hub_service.statuses import CREATING, FAILED, PULLING, RUNNING, STOPPED, WAITING, from_progress, from_server

POD = "jupyter-e9ca23d68d884d4ebb19d07889727dae--test-nb"
IMAGE = "apache/submarine:jupyter-notebook-0.6.0"
SERVER_REQUESTED = {"progress": 0, "message": "Server requested"}
READY = {"progress": 100, "ready": True, "message": "Server ready at /user/x/test-nb/", "url": "/user/x/test-nb/"}


def kube(kind: str, reason: str, message: str, seconds: int = 0) -> dict:
    """A progress event as kubespawner 7 yields it for one Kubernetes Event of the pod."""
    stamp = f"2021-07-13T08:23:{38 + seconds:02d}Z"
    return {
        "progress": 50,
        "message": f"{stamp} [{kind}] {message}",
        "raw_event": {
            "metadata": {
                "name": f"{POD}.17c1b0a1{seconds:04d}",
                "namespace": "default",
                "uid": f"5b0d3c1e-{seconds:04d}",
                "creationTimestamp": stamp,
            },
            "involvedObject": {
                "kind": "Pod",
                "namespace": "default",
                "name": POD,
                "apiVersion": "v1",
                "fieldPath": "spec.containers{notebook}",
            },
            "reason": reason,
            "message": message,
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": kind,
            "eventTime": None,
        },
    }


def follow(events, status=CREATING, reason=statuses.REASONS[CREATING]):
    """Each ``(status, reason)`` the notebook has after each event, as the sync applies them."""
    seen = []
    for event in events:
        change = from_progress(event, status)
        if change:
            status, reason = change
        seen.append((status, reason))
    return seen


def test_a_start_on_kubernetes():
    assert follow(
        [
            SERVER_REQUESTED,
            kube("Normal", "Scheduled", f"Successfully assigned default/{POD} to node-1"),
            kube("Normal", "Pulling", f'Pulling image "{IMAGE}"', 1),
            kube("Normal", "Pulled", f'Successfully pulled image "{IMAGE}" in 41.2s', 42),
            kube("Normal", "Created", "Created container notebook", 43),
            kube("Normal", "Started", "Started container notebook", 43),
            READY,
        ]
    ) == [
        (CREATING, "Server requested"),
        (WAITING, "Scheduled"),
        (PULLING, "Pulling"),
        (WAITING, "Pulled"),
        (WAITING, "Created"),
        (WAITING, "Started"),
        (RUNNING, statuses.REASONS[RUNNING]),
    ]


def test_an_image_that_cannot_be_pulled():
    missing = (
        f'Failed to pull image "{IMAGE}x": rpc error: code = NotFound desc = failed to pull and '
        f'unpack image "docker.io/{IMAGE}x": not found'
    )
    seen = follow(
        [
            kube("Normal", "Scheduled", f"Successfully assigned default/{POD} to node-1"),
            kube("Normal", "Pulling", f'Pulling image "{IMAGE}x"', 1),
            kube("Warning", "Failed", missing, 2),
            kube("Warning", "Failed", "Error: ErrImagePull", 2),
            kube("Normal", "BackOff", f'Back-off pulling image "{IMAGE}x"', 3),
            kube("Warning", "Failed", "Error: ImagePullBackOff", 3),
            {
                "progress": 100,
                "failed": True,
                "message": f"Spawn failed: pod default/{POD} cannot start: "
                f'ImagePullBackOff: Back-off pulling image "{IMAGE}x"',
            },
        ]
    )
    assert seen[1] == (PULLING, "Pulling")
    # failed at the first failure, which says the most; later events do not undo it
    assert seen[2:6] == [(FAILED, f"Failed: {missing}")] * 4
    assert seen[6] == (
        FAILED,
        f'Spawn failed: pod default/{POD} cannot start: ImagePullBackOff: Back-off pulling image "{IMAGE}x"',
    )


@pytest.mark.parametrize("reason", ["BackOff", "ErrImagePull", "ImagePullBackOff", "Failed"])
def test_failure_reasons(reason):
    assert from_progress(kube("Warning", reason, "it went wrong"), WAITING) == (FAILED, f"{reason}: it went wrong")


def test_a_pod_that_cannot_be_scheduled_keeps_waiting():
    unschedulable = (
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
        "available: 3 No preemption victims found for incoming pod."
    )
    seen = follow(
        [
            SERVER_REQUESTED,
            kube("Warning", "FailedScheduling", unschedulable),
            # kubespawner's own patience message: no Kubernetes Event
            {"message": "Pod is taking a while to start. Patience..."},
            kube("Warning", "FailedScheduling", unschedulable, 30),
        ]
    )
    assert seen[1:] == [
        (WAITING, f"FailedScheduling: {unschedulable}"),
        (WAITING, "Pod is taking a while to start. Patience..."),
        (WAITING, f"FailedScheduling: {unschedulable}"),
    ]


def test_a_bootstrap_that_fails():
    seen = follow(
        [
            kube("Normal", "Scheduled", f"Successfully assigned default/{POD} to node-1"),
            kube("Normal", "Pulled", f'Container image "{IMAGE}" already present on machine', 1),
            kube("Normal", "Created", "Created container notebook", 1),
            kube("Normal", "Started", "Started container notebook", 1),
            kube("Warning", "BackOff", f"Back-off restarting failed container notebook in pod {POD}_default", 9),
        ]
    )
    assert seen[-1] == (FAILED, f"BackOff: Back-off restarting failed container notebook in pod {POD}_default")


def test_other_events_are_news_not_a_new_status():
    attached = kube("Normal", "SuccessfulAttachVolume", 'AttachVolume.Attach succeeded for volume "pvc-1"')
    assert from_progress(attached, WAITING) == (WAITING, "SuccessfulAttachVolume")
    mount = kube("Warning", "FailedMount", 'MountVolume.SetUp failed for volume "pvc-1": timed out')
    assert from_progress(mount, PULLING) == (
        PULLING,
        'FailedMount: MountVolume.SetUp failed for volume "pvc-1": timed out',
    )


@pytest.mark.parametrize("current", [RUNNING, STOPPED, FAILED])
def test_events_change_only_a_starting_notebook(current):
    assert from_progress(kube("Normal", "Pulling", f'Pulling image "{IMAGE}"'), current) is None
    assert from_progress({"message": "Spawning server..."}, current) is None


def test_a_plain_message_updates_the_reason_of_a_starting_notebook():
    # the local spawner's progress: no Kubernetes Events, only messages
    assert from_progress({"progress": 20, "message": "Starting JupyterLab locally"}, CREATING) == (
        CREATING,
        "Starting JupyterLab locally",
    )
    assert from_progress({"progress": 20}, CREATING) is None


def test_ready_and_failed_end_a_start_from_any_status():
    assert from_progress(READY, FAILED) == (RUNNING, statuses.REASONS[RUNNING])
    assert from_progress({"failed": True}, PULLING) == (FAILED, "Spawn failed")


@pytest.mark.parametrize("current", [statuses.TERMINATING, STOPPED])
def test_the_end_of_a_spawn_a_stop_interrupted_is_not_news(current):
    # JupyterHub 6.1.1 ends the progress of a spawn its DELETE interrupted with "ready"
    assert from_progress(READY, current) is None
    assert from_progress({"progress": 100, "failed": True, "message": "Spawn cancelled"}, current) is None


def test_a_start_that_failed_stays_failed_while_the_hub_still_waits():
    # the status sync's pass over the hub's servers, after a BackOff event and before the spawn ends
    assert from_server({"pending": "spawn", "ready": False}, FAILED) is None
    assert from_server({"pending": "spawn", "ready": False}, STOPPED) == (CREATING, statuses.REASONS[CREATING])


def test_a_failed_notebook_started_again():
    assert follow(
        [SERVER_REQUESTED, kube("Normal", "Scheduled", "Successfully assigned")],
        status=FAILED,
        reason="BackOff: Back-off restarting failed container",
    ) == [(CREATING, "Server requested"), (WAITING, "Scheduled")]
