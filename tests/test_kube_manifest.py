"""The pod and the PVC SubmarineKubeSpawner asks Kubernetes for, made by the real kubespawner.

No cluster: each test builds the spawner as the hub does for one named server,
applies ``user_options`` the way the hub does before a start (``apply_user_options``,
then kubespawner's ``load_user_options``), and reads ``get_pod_manifest()``. The
manifests are checked against the Kubernetes models of ``kubernetes_asyncio``, and
every pod against the restricted Pod Security Standard (pss.py). The stand-in API
server of fake_kube.py records what kubespawner deletes.
"""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient
from kubespawner.slugs import is_valid_label

from submarine_spawner import SubmarineKubeSpawner, bootstrap
from submarine_spawner.kube import LOADER, pod_failure

from . import pss
from .fake_kube import OWNER, SEED_OPTIONS, bootstrap_failed, new_spawner, prepare, run

QUANTITY = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][0-9]+|[numkMGTPE]|[KMGTPE]i)?$")


def options(**changes):
    return {**SEED_OPTIONS, **changes}


async def as_dict(model) -> dict:
    async with ApiClient() as api:
        return api.sanitize_for_serialization(model)


async def pod_manifest(spawner, violations=()) -> dict:
    """The spawner's pod as the Kubernetes API receives it, which breaks the restricted Pod
    Security Standard in exactly ``violations`` (by default: meets it)."""
    pod = await as_dict(await spawner.get_pod_manifest())
    assert pss.violations(pod) == list(violations)
    return pod


def pod_of(kube_api, user_options, violations=(), **config):
    """``(spawner, pod manifest)``; see ``pod_manifest``."""

    async def make():
        spawner = new_spawner(kube_api, **config)
        await prepare(spawner, user_options)
        return spawner, await pod_manifest(spawner, violations)

    return run(make)


def container(pod) -> dict:
    (notebook,) = pod["spec"]["containers"]
    return notebook


def env_of(pod) -> dict:
    return {item["name"]: item["value"] for item in container(pod)["env"]}


def kubernetes_expand(value: str, env: dict) -> str:
    """What the kubelet makes of an env value: ``$(NAME)`` is replaced, ``$$`` is ``$``."""
    return re.sub(r"\$(\$|\(([^)]*)\))", lambda m: "$" if m[1] == "$" else env.get(m[2], m[0]), value)


def deserialized(manifest: dict, kind: str) -> dict:
    """The manifest read back through the Kubernetes client's model ``kind``: required
    fields checked, and nothing lost (a misspelled field would vanish)."""

    async def read():
        async with ApiClient() as api:
            model = api.deserialize(SimpleNamespace(data=json.dumps(manifest)), kind)
            assert type(model).__name__ == kind
            return api.sanitize_for_serialization(model)

    return run(read)


def quantities_as_text(pod) -> dict:
    pod = json.loads(json.dumps(pod))
    for amounts in container(pod)["resources"].values():
        amounts.update((name, str(amount)) for name, amount in amounts.items())
    return pod


def assert_valid_pod(pod):
    for amounts in container(pod)["resources"].values():
        for name, amount in amounts.items():
            assert QUANTITY.match(str(amount)), (name, amount)
    for name, value in pod["metadata"]["labels"].items():
        assert is_valid_label(value), (name, value)
    # the client's model reads quantities as text
    assert quantities_as_text(deserialized(pod, "V1Pod")) == quantities_as_text(pod)


# --- the seed's notebook ----------------------------------------------------------------


def test_seed_notebook_is_a_whole_valid_pod(kube_api):
    spawner, pod = pod_of(kube_api, SEED_OPTIONS)
    notebook = container(pod)
    assert notebook["image"] == "apache/submarine:jupyter-notebook-0.6.0"
    assert pod["metadata"]["labels"]["notebook-id"] == "notebook_1626160071451_0001"
    assert pod["metadata"]["labels"]["notebook-owner-id"] == OWNER
    assert pod["metadata"]["name"] == f"jupyter-{OWNER}--test-nb"
    assert spawner.namespace == "default"
    assert notebook["resources"] == {
        "limits": {"cpu": 1.0, "memory": 2**30},
        "requests": {"cpu": 1.0, "memory": 2**30},
    }
    env = env_of(pod)
    assert env["TEST_ENV"] == "test"
    assert env["SUBMARINE_NOTEBOOK_ID"] == "notebook_1626160071451_0001"
    assert json.loads(env[bootstrap.SPEC_VAR]) == SEED_OPTIONS["environment"]["kernelSpec"]
    assert env[bootstrap.DISPLAY_NAME_VAR] == "notebook-env"
    # the bootstrap runs first, then execs the single-user server with the hub's arguments
    assert notebook["args"][:4] == ["python3", "-c", LOADER, "jupyterhub-singleuser"]
    assert notebook["args"][4:] == spawner.get_args()
    assert notebook["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert_valid_pod(pod)


def test_the_bootstrap_reaches_the_pod_as_data(kube_api):
    _, pod = pod_of(kube_api, SEED_OPTIONS)
    env = env_of(pod)
    shipped = kubernetes_expand(env["SUBMARINE_BOOTSTRAP"], env)
    with open(bootstrap.__file__) as f:
        assert shipped == f.read()
    # the container runs a constant program: no part of it comes from the notebook
    assert "SUBMARINE_BOOTSTRAP" in LOADER and "$" not in LOADER


# --- resources ----------------------------------------------------------------------------


@pytest.mark.parametrize("cpu, cores", [("1", 1.0), ("500m", 0.5), ("0.5", 0.5), ("1.5", 1.5), ("250m", 0.25)])
def test_cpu_in_cores(kube_api, cpu, cores):
    _, pod = pod_of(kube_api, options(resources=f"cpu={cpu}"))
    assert container(pod)["resources"]["limits"]["cpu"] == cores
    assert container(pod)["resources"]["requests"]["cpu"] == cores
    assert_valid_pod(pod)


@pytest.mark.parametrize(
    "memory, size",
    [("1.0Gi", 2**30), ("512Mi", 512 * 2**20), ("2G", 2 * 10**9), ("1536Mi", 1536 * 2**20), ("1024", 1024)],
)
def test_memory_in_bytes(kube_api, memory, size):
    _, pod = pod_of(kube_api, options(resources=f"memory={memory}"))
    assert container(pod)["resources"]["limits"]["memory"] == size
    assert container(pod)["resources"]["requests"]["memory"] == size
    assert env_of(pod)["MEM_LIMIT"] == str(size)
    assert_valid_pod(pod)


def test_gpus_are_limits_and_guarantees(kube_api):
    _, pod = pod_of(kube_api, options(resources="cpu=2,memory=4Gi,nvidia.com/gpu=2"))
    resources = container(pod)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "2"
    assert resources["requests"]["nvidia.com/gpu"] == "2"
    assert_valid_pod(pod)


def test_other_extended_resources_the_service_admitted(kube_api):
    _, pod = pod_of(kube_api, options(resources="example.com/fpga=1"))
    assert container(pod)["resources"]["limits"]["example.com/fpga"] == "1"
    assert container(pod)["resources"]["requests"]["example.com/fpga"] == "1"


def test_guarantees_follow_the_configured_ratios(kube_api):
    _, pod = pod_of(kube_api, options(resources="cpu=2,memory=4Gi"), cpu_guarantee_ratio=0.25, mem_guarantee_ratio=0.5)
    resources = container(pod)["resources"]
    assert resources["limits"] == {"cpu": 2.0, "memory": 4 * 2**30}
    assert resources["requests"] == {"cpu": 0.5, "memory": 2 * 2**30}
    # ratio 0 keeps the configured guarantee, never above what the notebook may use
    _, pod = pod_of(
        kube_api,
        options(resources="cpu=2,memory=1Gi"),
        cpu_guarantee_ratio=0,
        mem_guarantee_ratio=0,
        cpu_guarantee=0.1,
        mem_guarantee="2G",
    )
    assert container(pod)["resources"]["requests"] == {"cpu": 0.1, "memory": 2**30}


def test_what_a_notebook_does_not_ask_for_comes_from_config(kube_api):
    _, pod = pod_of(
        kube_api,
        options(resources=""),
        cpu_limit=4.0,
        mem_limit="8G",
        mem_guarantee="1G",
        extra_resource_limits={"example.com/dongle": "1"},
    )
    resources = container(pod)["resources"]
    # JupyterHub reads "8G" in config as 8 GiB
    assert resources["limits"] == {"cpu": 4.0, "memory": 8 * 2**30, "example.com/dongle": "1"}
    assert resources["requests"] == {"memory": 2**30}


def test_each_start_begins_from_the_config(kube_api):
    def pod_after(*each_options):
        async def starts():
            spawner = new_spawner(kube_api, image="example.org/default:1")
            for user_options in each_options:
                await prepare(spawner, user_options)
            return await pod_manifest(spawner)

        return run(starts)

    pod = pod_after(
        options(resources="cpu=2,nvidia.com/gpu=1"),
        options(
            resources="memory=1Gi", environment={**SEED_OPTIONS["environment"], "dockerImage": "example.org/other:1"}
        ),
    )
    assert container(pod)["image"] == "example.org/other:1"
    assert container(pod)["resources"] == {"limits": {"memory": 2**30}, "requests": {"memory": 2**30}}
    # a plain server after a notebook is a plain server again
    pod = pod_after(SEED_OPTIONS, {})
    assert container(pod)["image"] == "example.org/default:1"
    assert not any(container(pod)["resources"].values())
    assert "notebook-id" not in pod["metadata"]["labels"]


# --- env values are data ---------------------------------------------------------------------

HOSTILE = {
    "SUBST": "$(touch /tmp/x)",
    "TICKS": "`touch /tmp/x`",
    "CHAIN": "x; touch /tmp/x && rm -rf ~",
    "DOLLARS": "$HOME $$ $(TEST_ENV) trailing $",
    "QUOTES": "'\"\\",
}


def test_env_values_that_look_like_shell_reach_the_container_as_given(kube_api):
    spawner, pod = pod_of(kube_api, options(envVars={"TEST_ENV": "test", **HOSTILE}))
    env = env_of(pod)
    for name, value in HOSTILE.items():
        assert kubernetes_expand(env[name], env) == value
    # nowhere near a command line
    args = " ".join(container(pod)["args"])
    for value in HOSTILE.values():
        assert value not in args
    assert container(pod)["args"][3:] == ["jupyterhub-singleuser", *spawner.get_args()]
    assert_valid_pod(pod)


# --- namespaces ------------------------------------------------------------------------------


def test_the_pod_runs_in_the_namespace_the_service_admitted(kube_api):
    """The allow-list is the service's (SubmarineService.allowed_namespaces): its admission
    refuses any other namespace before the spawner makes anything."""
    spawner, _ = pod_of(kube_api, options(namespace="team-a"), KubeSpawner__namespace="jhub")
    assert spawner.namespace == "team-a"
    assert spawner.dns_name == f"jupyter-{OWNER}--test-nb.team-a.svc.cluster.local"


def test_a_plain_server_runs_in_the_hubs_namespace(kube_api):
    spawner, _ = pod_of(kube_api, {}, KubeSpawner__namespace="jhub")
    assert spawner.namespace == "jhub"


# --- what a pod runs as: the restricted Pod Security Standard ---------------------------------

NOTEBOOK = "spec.containers[notebook]"


@pytest.mark.parametrize("user_options", [SEED_OPTIONS, {}], ids=["notebook", "plain-server"])
def test_pods_run_as_jovyan_within_the_restricted_standard(kube_api, user_options):
    _, pod = pod_of(kube_api, user_options)
    assert pod["spec"]["securityContext"] == {
        "fsGroup": 100,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container(pod)["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 100,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert_valid_pod(pod)


def test_an_operator_changes_them_through_kubespawners_traits(kube_api):
    # Zero to JupyterHub's singleuser.uid, fsGid and allowPrivilegeEscalation are c.KubeSpawner.*
    _, pod = pod_of(
        kube_api,
        SEED_OPTIONS,
        KubeSpawner__uid=1001,
        KubeSpawner__fs_gid=2000,
        KubeSpawner__allow_privilege_escalation=False,
        gid=2000,
        container_security_context={"capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True},
    )
    assert pod["spec"]["securityContext"]["fsGroup"] == 2000
    assert container(pod)["securityContext"] == {
        "runAsUser": 1001,
        "runAsGroup": 2000,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }


def test_the_charts_values_make_the_same_pods(kube_api):
    values = yaml.safe_load((Path(__file__).parent.parent / "deploy/values.yaml").read_text())["singleuser"]
    # the chart's way to block the cloud metadata server is a privileged init container running as root
    assert values["cloudMetadata"]["blockWithIptables"] is False
    _, pod = pod_of(kube_api, SEED_OPTIONS)
    # the chart sets these kubespawner traits from singleuser.uid, fsGid and allowPrivilegeEscalation
    _, chart_pod = pod_of(
        kube_api,
        SEED_OPTIONS,
        KubeSpawner__uid=values["uid"],
        KubeSpawner__fs_gid=values["fsGid"],
        KubeSpawner__allow_privilege_escalation=values["allowPrivilegeEscalation"],
    )
    assert chart_pod["spec"]["securityContext"] == pod["spec"]["securityContext"]
    assert container(chart_pod)["securityContext"] == container(pod)["securityContext"]


def test_an_operator_may_leave_the_standard_knowingly(kube_api):
    pod_of(
        kube_api,
        SEED_OPTIONS,
        allow_privilege_escalation=None,
        violations=[f"{NOTEBOOK}.securityContext.allowPrivilegeEscalation is not false"],
    )
    # a dict replaces the default, as in kubespawner
    pod_of(
        kube_api,
        SEED_OPTIONS,
        pod_security_context={"fsGroupChangePolicy": "OnRootMismatch"},
        violations=[
            f"{NOTEBOOK}: neither it nor the pod sets runAsNonRoot true",
            f"{NOTEBOOK}: neither it nor the pod sets seccompProfile.type RuntimeDefault or Localhost",
        ],
    )


def test_run_as_non_root_does_not_rest_on_the_uid(kube_api):
    # None: kubespawner sets no runAsUser, the image's USER runs, and the kubelet checks it is not root
    _, pod = pod_of(kube_api, SEED_OPTIONS, uid=None)
    assert "runAsUser" not in container(pod)["securityContext"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    # 0: kubespawner writes it, and the pod still says runAsNonRoot: the kubelet refuses to run it
    _, pod = pod_of(
        kube_api, SEED_OPTIONS, KubeSpawner__uid=0, violations=[f"{NOTEBOOK}.securityContext.runAsUser is 0 (root)"]
    )
    assert container(pod)["securityContext"]["runAsUser"] == 0
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_pods_settings_hold_for_containers_an_operator_adds(kube_api):
    # runAsNonRoot and seccomp come from the pod; only what a container alone can say is theirs
    def added(name):
        return {
            "name": name,
            "image": f"example.org/{name}:1",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }

    _, pod = pod_of(kube_api, SEED_OPTIONS, init_containers=[added("init")], extra_containers=[added("sidecar")])
    assert [c["name"] for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]] == [
        "init",
        "notebook",
        "sidecar",
    ]


# --- an environment's pod settings ------------------------------------------------------------

AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "gpu-model", "operator": "In", "values": ["a100", "h100"]}]}
            ]
        },
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}
        ],
    },
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 5,
                "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"team": "vision"}},
                },
            }
        ]
    },
}
POD = {
    "nodeSelector": {"accelerator": "nvidia"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": AFFINITY,
    "imagePullSecrets": ["registry-credentials"],
    "shmSize": "2Gi",
    "volumes": ["datasets"],
}
DATASETS = {
    "name": "datasets",
    "volume": {"persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}},
    "mountPath": "/data",
    "readOnly": True,
}


def test_an_environments_pod_settings_reach_the_pod_through_kubespawners_traits(kube_api):
    environment = {**SEED_OPTIONS["environment"], "pod": POD}
    spawner, pod = pod_of(
        kube_api,
        options(environment=environment, volumes=[DATASETS]),
        node_selector={"pool": "notebooks"},
        image_pull_secrets=["hub-wide"],
    )
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "notebooks", "accelerator": "nvidia"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["affinity"]["nodeAffinity"] == AFFINITY["nodeAffinity"]
    assert spec["affinity"]["podAntiAffinity"] == AFFINITY["podAntiAffinity"]
    assert spec["imagePullSecrets"] == [{"name": "hub-wide"}, {"name": "registry-credentials"}]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["submarine-shm"] == {"name": "submarine-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}
    assert volumes["submarine-datasets"]["persistentVolumeClaim"] == {"claimName": "datasets", "readOnly": True}
    mounts = {mount["mountPath"]: mount for mount in container(pod)["volumeMounts"]}
    assert mounts["/dev/shm"]["name"] == "submarine-shm"
    assert mounts["/data"] == {"name": "submarine-datasets", "mountPath": "/data", "readOnly": True}
    assert "/home/jovyan" in mounts  # the workspace stays
    assert_valid_pod(pod)  # and, as every pod here, within the restricted Pod Security Standard


def test_each_start_begins_from_the_configured_pod_settings(kube_api):
    async def starts():
        spawner = new_spawner(kube_api, node_selector={"pool": "notebooks"})
        await prepare(spawner, options(environment={**SEED_OPTIONS["environment"], "pod": POD}, volumes=[DATASETS]))
        await prepare(spawner, SEED_OPTIONS)
        return await pod_manifest(spawner)

    pod = run(starts)
    assert pod["spec"]["nodeSelector"] == {"pool": "notebooks"}
    assert not pod["spec"].get("affinity") and not pod["spec"].get("imagePullSecrets")
    assert [volume["name"] for volume in pod["spec"]["volumes"]] == ["workspace"]


# --- workspace storage ----------------------------------------------------------------------


def test_a_workspace_pvc_per_notebook_mounted_at_home(kube_api):
    async def make():
        spawner = new_spawner(kube_api, storage_capacity="5Gi", storage_class="fast-ssd", home_dir="/home/submarine")
        await prepare(spawner, SEED_OPTIONS)
        return (spawner, await pod_manifest(spawner), await as_dict(spawner.get_pvc_manifest()))

    spawner, pod, pvc = run(make)
    assert spawner.storage_pvc_ensure and spawner.delete_pvc
    assert pvc["metadata"]["name"] == f"claim-{OWNER}--test-nb"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert pvc["spec"]["storageClassName"] == "fast-ssd"
    assert pvc["metadata"]["labels"]["notebook-id"] == "notebook_1626160071451_0001"
    (volume,) = pod["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert container(pod)["volumeMounts"] == [{"name": volume["name"], "mountPath": "/home/submarine"}]
    assert deserialized(pvc, "V1PersistentVolumeClaim") == pvc
    assert_valid_pod(pod)


def test_two_notebooks_of_one_owner_have_their_own_pvcs(kube_api):
    async def claims():
        names = []
        for server in ("test-nb", "other-nb"):
            spawner = new_spawner(kube_api, server=server)
            await prepare(spawner, SEED_OPTIONS)
            names.append(spawner.get_pvc_manifest().metadata.name)
        return names

    first, second = run(claims)
    assert first != second


def test_the_pvc_is_deleted_with_the_notebook_in_its_namespace(kube_api):
    async def remove():
        spawner = new_spawner(kube_api)
        await prepare(spawner, options(namespace="team-a"))
        await spawner.delete_forever()  # what the hub calls when the named server is removed

    kube_api.reset()
    run(remove)
    assert kube_api.requests == [
        ("DELETE", f"/api/v1/namespaces/team-a/persistentvolumeclaims/claim-{OWNER}--test-nb")
    ]


# --- what is not a notebook, and what kubespawner's profiles may not change --------------------

PROFILES = [
    {
        "display_name": "Big",
        "default": True,
        "kubespawner_override": {"image": "example.org/profile:1", "cpu_limit": 8.0},
    }
]


def test_a_profile_does_not_override_a_notebook(kube_api):
    _, pod = pod_of(kube_api, SEED_OPTIONS, profile_list=PROFILES)
    assert container(pod)["image"] == "apache/submarine:jupyter-notebook-0.6.0"
    assert container(pod)["resources"]["limits"]["cpu"] == 1.0


def test_a_plain_server_is_kubespawners(kube_api):
    _, pod = pod_of(kube_api, {}, profile_list=PROFILES, image="example.org/default:1")
    assert container(pod)["image"] == "example.org/profile:1"
    assert container(pod)["args"][0] == "jupyterhub-singleuser"
    assert "notebook-id" not in pod["metadata"]["labels"]
    assert "SUBMARINE_BOOTSTRAP" not in env_of(pod)


# --- a pod that will not start ---------------------------------------------------------------


def pod_status(*containers, deleting=False) -> dict:
    metadata = {"name": "jupyter-x", "deletionTimestamp": "2024-01-01T00:00:00Z"} if deleting else {}
    return {"metadata": metadata, "status": {"phase": "Pending", "containerStatuses": list(containers)}}


FATAL = SubmarineKubeSpawner.fatal_container_reasons.default()
BOOTSTRAP_FAILED = bootstrap_failed({})["containerStatuses"][0]


@pytest.mark.parametrize(
    "status, failure",
    [
        (
            pod_status({"name": "notebook", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}),
            None,
        ),
        (
            pod_status(
                {"name": "notebook", "ready": True, "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}
            ),
            None,
        ),
        (
            pod_status(BOOTSTRAP_FAILED),
            "container notebook exited with status 1 (Error): ERROR: No matching distribution found for pandsa | "
            "submarine-bootstrap: installing 1 pip dependencies failed: pip exited with status 1 "
            "(its output is above)",
        ),
        (
            pod_status(
                {
                    "name": "notebook",
                    "ready": False,
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "example.org/nope:1"',
                        }
                    },
                }
            ),
            'ImagePullBackOff: Back-off pulling image "example.org/nope:1"',
        ),
        (
            pod_status(
                {
                    "name": "notebook",
                    "ready": False,
                    "state": {
                        "waiting": {
                            "reason": "CreateContainerConfigError",
                            "message": "container's runAsUser breaks non-root policy "
                            '(pod: "jupyter-x_default", container: notebook)',
                        }
                    },
                }
            ),
            'CreateContainerConfigError: container\'s runAsUser breaks non-root policy (pod: "jupyter-x_default", '
            "container: notebook)",
        ),
        (pod_status(BOOTSTRAP_FAILED, deleting=True), None),
        (None, None),
    ],
)
def test_why_a_pod_will_not_start(status, failure):
    assert pod_failure(status, FATAL, log_lines=2) == failure


# --- the checker of the restricted Pod Security Standard (tests/pss.py) ---------------------------


def restricted_pod(**changes) -> dict:
    """A pod that meets the restricted standard; ``changes``: ``"path.to.key": value`` (None removes)."""
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "notebook",
                    "image": "example.org/image:1",
                    "ports": [{"containerPort": 8888}],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
            "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": "claim"}}],
        },
    }
    for path, value in changes.items():
        *parents, key = path.split(".")
        node = pod
        for parent in parents:
            node = node[int(parent)] if parent.isdigit() else node.setdefault(parent, {})
        if value is None:
            del node[key]
        else:
            node[key] = value
    return pod


ROOT_INIT_CONTAINER = {
    "name": "block-cloud-metadata",
    "image": "example.org/iptables:1",
    "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}},
}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        # container-level settings instead of the pod's
        {
            "spec.securityContext": None,
            "spec.containers.0.securityContext.runAsNonRoot": True,
            "spec.containers.0.securityContext.seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
        },
        {"spec.containers.0.securityContext.capabilities.add": ["NET_BIND_SERVICE"]},
        {"spec.securityContext.sysctls": [{"name": "net.ipv4.ping_group_range", "value": "0 1"}]},
        {
            "spec.volumes": [
                {"name": "scratch", "emptyDir": {}},
                {"name": "files", "secret": {"secretName": "s"}},
                {"name": "info", "downwardAPI": {"items": []}},
                {"name": "cm", "configMap": {"name": "c"}},
            ]
        },
        {"metadata.annotations": {"container.apparmor.security.beta.kubernetes.io/notebook": "runtime/default"}},
        {"spec.securityContext.seLinuxOptions": {"type": "container_t", "level": "s0:c123,c456"}},
    ],
)
def test_the_checker_passes_restricted_pods(changes):
    assert pss.violations(restricted_pod(**changes)) == []


@pytest.mark.parametrize(
    "changes, violations",
    [
        (
            {"spec.hostNetwork": True, "spec.hostPID": True, "spec.hostIPC": True},
            ["spec.hostNetwork is true", "spec.hostPID is true", "spec.hostIPC is true"],
        ),
        ({"spec.containers.0.securityContext.privileged": True}, [f"{NOTEBOOK} is privileged"]),
        (
            {"spec.volumes": [{"name": "host", "hostPath": {"path": "/"}}, {"name": "share", "nfs": {"server": "n"}}]},
            ["volume host is of type hostPath", "volume share is of type nfs"],
        ),
        ({"spec.containers.0.ports.0.hostPort": 8888}, [f"{NOTEBOOK} uses hostPort 8888"]),
        (
            {"spec.containers.0.securityContext.capabilities.add": ["NET_BIND_SERVICE", "SYS_ADMIN"]},
            [f"{NOTEBOOK}.securityContext.capabilities.add has SYS_ADMIN"],
        ),
        (
            {"spec.containers.0.securityContext.capabilities": None},
            [f"{NOTEBOOK}.securityContext.capabilities.drop does not include ALL"],
        ),
        (
            {"spec.containers.0.securityContext.allowPrivilegeEscalation": None},
            [f"{NOTEBOOK}.securityContext.allowPrivilegeEscalation is not false"],
        ),
        ({"spec.securityContext.runAsNonRoot": None}, [f"{NOTEBOOK}: neither it nor the pod sets runAsNonRoot true"]),
        (
            {"spec.containers.0.securityContext.runAsNonRoot": False},
            [f"{NOTEBOOK}.securityContext.runAsNonRoot is false"],
        ),
        ({"spec.containers.0.securityContext.runAsUser": 0}, [f"{NOTEBOOK}.securityContext.runAsUser is 0 (root)"]),
        ({"spec.securityContext.runAsUser": 0}, ["spec.securityContext.runAsUser is 0 (root)"]),
        (
            {"spec.securityContext.seccompProfile": {"type": "Unconfined"}},
            [
                "spec.securityContext.seccompProfile.type is 'Unconfined'",
                f"{NOTEBOOK}: neither it nor the pod sets seccompProfile.type RuntimeDefault or Localhost",
            ],
        ),
        (
            {"spec.containers.0.securityContext.seccompProfile": {"type": "Unconfined"}},
            [f"{NOTEBOOK}.securityContext.seccompProfile.type is 'Unconfined'"],
        ),
        (
            {"spec.securityContext.sysctls": [{"name": "kernel.msgmax", "value": "65536"}]},
            ["spec.securityContext.sysctls has unsafe kernel.msgmax"],
        ),
        (
            {"metadata.annotations": {"container.apparmor.security.beta.kubernetes.io/notebook": "unconfined"}},
            ["annotation container.apparmor.security.beta.kubernetes.io/notebook is 'unconfined'"],
        ),
        (
            {"spec.containers.0.securityContext.appArmorProfile": {"type": "Unconfined"}},
            [f"{NOTEBOOK}.securityContext.appArmorProfile.type is 'Unconfined'"],
        ),
        (
            {"spec.securityContext.seLinuxOptions": {"type": "spc_t", "user": "system_u"}},
            ["spec.securityContext.seLinuxOptions.type is 'spc_t'", "spec.securityContext.seLinuxOptions.user is set"],
        ),
        (
            {"spec.containers.0.securityContext.procMount": "Unmasked"},
            [f"{NOTEBOOK}.securityContext.procMount is 'Unmasked'"],
        ),
        (
            {"spec.containers.0.readinessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}},
            [f"{NOTEBOOK}.readinessProbe.httpGet.host is set"],
        ),
        # what Zero to JupyterHub adds to block the cloud metadata server (singleuser.cloudMetadata)
        (
            {"spec.initContainers": [ROOT_INIT_CONTAINER]},
            [
                "spec.initContainers[block-cloud-metadata].securityContext.runAsUser is 0 (root)",
                "spec.initContainers[block-cloud-metadata] is privileged",
                "spec.initContainers[block-cloud-metadata].securityContext.allowPrivilegeEscalation is not false",
                "spec.initContainers[block-cloud-metadata].securityContext.capabilities.drop does not include ALL",
                "spec.initContainers[block-cloud-metadata].securityContext.capabilities.add has NET_ADMIN",
            ],
        ),
    ],
)
def test_the_checker_finds_each_violation(changes, violations):
    assert pss.violations(restricted_pod(**changes)) == violations
