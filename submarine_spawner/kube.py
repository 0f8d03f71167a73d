"""SubmarineKubeSpawner: each notebook as a Kubernetes pod, made by kubespawner.

From a notebook's ``user_options`` (validated by the mixin) the pod gets:

* ``image`` = ``environment.dockerImage``; labels ``notebook-id`` and
  ``notebook-owner-id`` (on the pod and its PVC);
* the namespace the service admitted (its allow-list is the service's);
* cpu and memory limits, guarantees by ``cpu_guarantee_ratio`` and
  ``mem_guarantee_ratio``, extended resources (GPUs) with guarantee = limit, as
  Kubernetes requires of them;
* ``envVars`` in the container env, each ``$`` doubled so that Kubernetes'
  ``$(VAR)`` expansion gives back exactly the value given;
* the kernelSpec bootstrap (bootstrap.py) in front of the server command;
* a workspace PVC (``claim-{user_server}``) at ``home_dir``: kubespawner makes
  it on the first start, keeps it on stop and deletes it with the named server
  (``delete_pvc``).

Every pod meets the restricted Pod Security Standard by default, through
kubespawner's own traits (see their help): uid 1000, gid 100 and fsGroup 100
(jovyan and users of Jupyter's docker-stacks images), no privilege escalation,
no capabilities and, pod-wide, ``runAsNonRoot`` and the runtime's default
seccomp profile. Each is set where kubespawner's merging leaves it alone: the
two security context dicts name nothing a dedicated trait sets (their keys
would win), and ``runAsNonRoot`` does not rest on ``uid`` (None: the image's
USER, which must then be numeric; 0: the kubelet refuses the container, and
the start fails at once with its reason).

Everything is applied from the admitted spec (``apply_admitted``), from the configured
values (``self.configured``), so each start begins from the operator's config. A
``profile_list`` (``load_user_options``) applies only to servers that are not
notebooks: it would otherwise override what the notebook asked for.

The bootstrap is not installed in user images, so it travels as data: its
source in ``$SUBMARINE_BOOTSTRAP``, the kernelSpec as JSON beside it, and the
container runs ``python3 -c LOADER jupyterhub-singleuser ...`` where ``LOADER``
is a constant program that executes that source. No ConfigMap or volume to
manage, nothing a notebook says is ever part of a command line, and the
bootstrap's argv is exactly the server command it then execs.

A start fails as soon as the pod shows it cannot succeed (its container
exited, e.g. a failed install, or its image cannot be pulled) rather than after
``start_timeout``, with the container's last log lines as the reason
(``terminationMessagePolicy: FallbackToLogsOnError``); an unexpected exit of a
running notebook is explained the same way.
"""

import asyncio
import json
from contextvars import ContextVar
from functools import cache
from pathlib import Path

import jupyterhub
from kubespawner import KubeSpawner
from traitlets import Bool, Callable, Dict, Float, Integer, List, Unicode, Union, default

from . import bootstrap
from .k8s import label_value
from .mixin import SubmarineSpawnerMixin
from .resources import Resources

# dropped from the environment before the bootstrap runs: the server and kernels never see it
BOOTSTRAP_VAR = "SUBMARINE_BOOTSTRAP"
LOADER = f"import os; exec(compile(os.environ.pop('{BOOTSTRAP_VAR}'), 'submarine-bootstrap', 'exec'))"


# set while poll() runs, in its task only
_polling = ContextVar("submarine_kube_polling", default=False)


@cache
def bootstrap_source() -> str:
    return Path(bootstrap.__file__).read_text()


def literal_env_value(value: str) -> str:
    """Kubernetes expands ``$(VAR)`` in env values and reads ``$$`` as ``$``."""
    return value.replace("$", "$$")


def _guarantee(asked, ratio: float, configured):
    """The guarantee for a limit a notebook asked for (``None``: it asked for none)."""
    if asked is None:
        return configured
    if ratio:
        return asked * ratio
    # ratio 0: the configured guarantee, but never above the limit
    return min(configured, asked) if configured else configured


# kubespawner's traits an environment's pod settings add to
POD_TRAITS = (
    "node_selector",
    "tolerations",
    "image_pull_secrets",
    "node_affinity_required",
    "node_affinity_preferred",
    "pod_affinity_required",
    "pod_affinity_preferred",
    "pod_anti_affinity_required",
    "pod_anti_affinity_preferred",
    "volumes",
    "volume_mounts",
)
# an affinity's parts, as kubespawner's traits take them
AFFINITY_TRAITS = {
    ("nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"): "node_affinity_required",
    ("nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"): "node_affinity_preferred",
    ("podAffinity", "requiredDuringSchedulingIgnoredDuringExecution"): "pod_affinity_required",
    ("podAffinity", "preferredDuringSchedulingIgnoredDuringExecution"): "pod_affinity_preferred",
    ("podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"): "pod_anti_affinity_required",
    ("podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"): "pod_anti_affinity_preferred",
}
SHM = "submarine-shm"


def pod_settings(pod, volumes) -> dict[str, dict]:
    """An environment's pod settings (``contract.PodSettings``) and the volumes it mounts, as
    what they add to kubespawner's traits: each a dict of entries by key."""
    added: dict[str, dict] = {
        "node_selector": dict(pod.nodeSelector),
        "tolerations": {
            f"submarine-{i}": toleration.model_dump(exclude_none=True) for i, toleration in enumerate(pod.tolerations)
        },
        "image_pull_secrets": {name: name for name in pod.imagePullSecrets},
        "volumes": {},
        "volume_mounts": {},
    }
    for (kind, when), trait in AFFINITY_TRAITS.items():
        terms = ((pod.affinity or {}).get(kind) or {}).get(when) or []
        if isinstance(terms, dict):  # a node affinity's required part holds its terms
            terms = terms.get("nodeSelectorTerms") or []
        added[trait] = {f"submarine-{i}": term for i, term in enumerate(terms)}
    for volume in volumes:
        name = f"submarine-{volume.name}"
        added["volumes"][name] = {"name": name, **volume.volume}
        added["volume_mounts"][name] = {"name": name, "mountPath": volume.mountPath, "readOnly": volume.readOnly}
    if pod.shmSize:
        # a memory-backed /dev/shm, counted in the pod's memory
        added["volumes"][SHM] = {"name": SHM, "emptyDir": {"medium": "Memory", "sizeLimit": pod.shmSize}}
        added["volume_mounts"][SHM] = {"name": SHM, "mountPath": "/dev/shm"}
    return added


def extended(configured, added: dict):
    """A kubespawner trait as configured (a list, a dict of entries by key, or one name) with ``added``."""
    if isinstance(configured, dict):
        return {**configured, **added}
    return [*([configured] if isinstance(configured, str) else configured or []), *added.values()]


def pod_failure(pod: dict | None, fatal_reasons, log_lines: int) -> str | None:
    """Why a starting pod will not become ready, from its container statuses; None while it may.

    A container that terminated (the bootstrap or the server exited: the last ``log_lines``
    of its termination message say why) and one waiting for one of ``fatal_reasons``
    (an image that cannot be pulled) are failures.
    """
    if not pod or pod.get("metadata", {}).get("deletionTimestamp"):
        return None
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        for state in (container.get("state"), container.get("lastState")):
            terminated = (state or {}).get("terminated")
            if terminated:
                lines = (terminated.get("message") or "").splitlines()
                tail = [line.strip() for line in lines if line.strip()][-log_lines:]
                reason = terminated.get("reason") or "no reason given"
                failure = f"container {container['name']} exited with status {terminated.get('exitCode')} ({reason})"
                return f"{failure}: {' | '.join(tail)}" if tail else failure
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in fatal_reasons:
            return f"{waiting['reason']}: {waiting.get('message') or 'no message'}"
    return None


class SubmarineKubeSpawner(SubmarineSpawnerMixin, KubeSpawner):
    notebook_traits = (
        "cmd",
        "cpu_limit",
        "cpu_guarantee",
        "mem_limit",
        "mem_guarantee",
        "extra_labels",
        "extra_resource_limits",
        "extra_resource_guarantees",
        "image",
        "namespace",
        "storage_extra_labels",
        *POD_TRAITS,
    )

    cpu_guarantee_ratio = Float(
        1.0,
        min=0,
        max=1,
        help="A notebook's cpu guarantee (request) as a fraction of the cpu it asks for: 1 (the "
        "default) guarantees all of it, 0.5 lets nodes overcommit cpu twofold, 0 keeps the "
        "configured cpu_guarantee.",
    ).tag(config=True)

    mem_guarantee_ratio = Float(
        1.0,
        min=0,
        max=1,
        help="A notebook's memory guarantee (request) as a fraction of the memory it asks for: 1 "
        "(the default) guarantees all of it, 0 keeps the configured mem_guarantee. Overcommitted "
        "memory is reclaimed by killing notebooks.",
    ).tag(config=True)

    home_dir = Unicode(
        "/home/jovyan",
        help="Where the notebook's workspace volume (its PVC) is mounted: the home directory "
        "of the image's user (jovyan in Submarine's and Jupyter's images).",
    ).tag(config=True)

    bootstrap_python = Unicode(
        "python3",
        help="The image's Python that runs the kernelSpec bootstrap and then the kernel "
        "(a name on the image's PATH, or a path).",
    ).tag(config=True)

    fatal_container_reasons = List(
        Unicode(),
        default_value=[
            "ErrImagePull",
            "ImagePullBackOff",
            "InvalidImageName",
            "ErrImageNeverPull",
            "CreateContainerConfigError",
        ],
        help="Reasons of a waiting container that fail a start at once, rather than after "
        "start_timeout. A container that exits while starting always does. CreateContainerConfigError is "
        "also the kubelet refusing to run as root a pod that says runAsNonRoot.",
    ).tag(config=True)

    exit_log_lines = Integer(
        3,
        help="How many last lines of the container's log (its termination message) explain "
        "a failed start or an unexpected exit.",
    ).tag(config=True)

    # kubespawner's traits, with defaults that meet the restricted Pod Security Standard
    uid = Union(
        [Integer(), Callable()],
        default_value=1000,
        allow_none=True,
        help="The uid the notebook container runs as (runAsUser): 1000, jovyan in Jupyter's docker-stacks and "
        "Submarine's images. Pods run as non-root (runAsNonRoot in pod_security_context): 0 is refused by the "
        "kubelet. None: the image's USER, which must then be numeric. Also a callable, as in KubeSpawner.",
    ).tag(config=True)

    gid = Union(
        [Integer(), Callable()],
        default_value=100,
        allow_none=True,
        help="The primary gid of the notebook container (runAsGroup): 100, users in Jupyter's docker-stacks "
        "images, the group that may write their conda environment. None: the image's.",
    ).tag(config=True)

    fs_gid = Union(
        [Integer(), Callable()],
        default_value=100,
        allow_none=True,
        help="The pod's fsGroup: the workspace volume (the home PVC) is made writable by this group, which the "
        "notebook's processes are members of. 100, as gid.",
    ).tag(config=True)

    allow_privilege_escalation = Bool(
        False,
        allow_none=True,
        help="allowPrivilegeEscalation of the notebook container: False (the default), as the restricted Pod "
        "Security Standard requires, so setuid programs such as sudo gain nothing. None leaves it to the "
        "cluster, which that standard does not accept.",
    ).tag(config=True)

    pod_security_context = Union(
        [Dict(), Callable()],
        help="The pod's securityContext (camelCase keys). The default, runAsNonRoot and the container runtime's "
        "default seccomp profile, holds for every container of the pod, init_containers and extra_containers "
        "included. A dict set here replaces the default: keep both to stay within the restricted standard. "
        "fsGroup comes from fs_gid.",
    ).tag(config=True)

    container_security_context = Union(
        [Dict(), Callable()],
        help="The notebook container's securityContext (camelCase keys). The default drops all Linux "
        "capabilities, which only a container can. A dict set here replaces the default, and its keys win over "
        "uid, gid, privileged and allow_privilege_escalation: keep the capabilities' drop ALL to stay within "
        "the restricted standard.",
    ).tag(config=True)

    @default("pod_security_context")
    def _default_pod_security_context(self):
        return {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}

    @default("container_security_context")
    def _default_container_security_context(self):
        return {"capabilities": {"drop": ["ALL"]}}

    @default("cmd")
    def _default_cmd(self):
        return [bootstrap.SINGLEUSER]

    @default("storage_pvc_ensure")
    def _default_storage_pvc_ensure(self):
        return True

    @default("storage_capacity")
    def _default_storage_capacity(self):
        return "10Gi"

    @default("volumes")
    def _default_volumes(self):
        claim = {"claimName": "{pvc_name}"}  # expanded by kubespawner
        return {"workspace": {"name": "workspace", "persistentVolumeClaim": claim}}

    @default("volume_mounts")
    def _default_volume_mounts(self):
        return {"workspace": {"name": "workspace", "mountPath": self.home_dir}}

    @default("extra_container_config")
    def _default_extra_container_config(self):
        # a failed bootstrap's last words reach the pod status (see pod_failure)
        return {"terminationMessagePolicy": "FallbackToLogsOnError"}

    # --- user_options -> pod settings -------------------------------------------------

    def apply_resources(self, resources: Resources):
        self.cpu_limit = self.configured("cpu_limit") if resources.cpu is None else resources.cpu
        self.cpu_guarantee = _guarantee(resources.cpu, self.cpu_guarantee_ratio, self.configured("cpu_guarantee"))
        self.mem_limit = self.configured("mem_limit") if resources.memory is None else resources.memory
        memory = _guarantee(resources.memory, self.mem_guarantee_ratio, self.configured("mem_guarantee"))
        self.mem_guarantee = int(memory) if memory is not None else None
        extended = {name: str(count) for name, count in resources.extended.items()}
        self.extra_resource_limits = {**self.configured("extra_resource_limits"), **extended}
        self.extra_resource_guarantees = {**self.configured("extra_resource_guarantees"), **extended}

    def apply_admitted(self, admitted):
        """The mixin applies the resources; the rest of the pod is set here."""
        super().apply_admitted(admitted)
        notebook = self.notebook
        self._apply_namespace(admitted.namespace if notebook else self.configured("namespace"))
        image = self.configured("image")
        self.image = notebook.environment.dockerImage if notebook else image
        labels = {}
        if notebook and notebook.notebookId:
            labels = {
                "notebook-id": label_value(notebook.notebookId),
                "notebook-owner-id": label_value(self.user.name),
            }
        self.extra_labels = {**self.configured("extra_labels"), **labels}
        self.storage_extra_labels = {**self.configured("storage_extra_labels"), **labels}
        cmd = self.configured("cmd")
        if notebook:
            cmd = [self.bootstrap_python, "-c", LOADER, *(cmd or [bootstrap.SINGLEUSER])]
        self.cmd = cmd
        added = pod_settings(notebook.environment.pod, admitted.volumes) if notebook else {}
        for trait in POD_TRAITS:
            setattr(self, trait, extended(self.configured(trait), added.get(trait, {})))

    def _apply_namespace(self, namespace: str):
        """The namespace the service admitted (from its allow-list: SubmarinePolicy.allowed_namespaces;
        the hub's service account needs the pods, events and persistentvolumeclaims permissions in each)."""
        self.namespace = namespace
        self.dns_name = self.dns_name_template.format(namespace=namespace, name=self.pod_name)

    async def load_user_options(self):
        if self.notebook is None:
            await super().load_user_options()

    def get_env(self):
        env = super().get_env()
        if self.notebook:
            data = {
                **self.notebook.envVars,
                bootstrap.SPEC_VAR: json.dumps(self.notebook.environment.kernelSpec.model_dump()),
                bootstrap.DISPLAY_NAME_VAR: self.notebook.environment.name,
                bootstrap.HUB_VERSION_VAR: jupyterhub.__version__,
                BOOTSTRAP_VAR: bootstrap_source(),
            }
            env.update({name: literal_env_value(value) for name, value in data.items()})
        return env

    # --- failing fast, and saying why -------------------------------------------------

    def _pod(self) -> dict | None:
        reflector = self.pod_reflector
        return reflector.pods.get(f"{self.namespace}/{self.pod_name}") if reflector else None

    async def _watch_for_failure(self):
        while True:
            await asyncio.sleep(1)
            failure = pod_failure(self._pod(), self.fatal_container_reasons, self.exit_log_lines)
            if failure:
                raise RuntimeError(f"pod {self.namespace}/{self.pod_name} cannot start: {failure}")

    async def start(self):
        """kubespawner's start, ended early (with the pod's reason) if the pod cannot start."""
        starting = asyncio.ensure_future(super().start())
        watching = asyncio.ensure_future(self._watch_for_failure())
        try:
            done, _ = await asyncio.wait([starting, watching], return_when=asyncio.FIRST_COMPLETED)
        finally:
            # no-ops on the finished one; the hub stops the pod after a failed start
            starting.cancel()
            watching.cancel()
        return starting.result() if starting in done else watching.result()

    _ending = None

    async def poll(self):
        # kubespawner deletes a pod that ended: first read why it did
        self._ending = pod_failure(self._pod(), (), self.exit_log_lines)
        polling = _polling.set(True)
        try:
            return await super().poll()
        finally:
            _polling.reset(polling)

    async def stop(self, now=False):
        if _polling.get():
            # kubespawner's poll deleting the pod of a server that ended: no one asked for a stop
            return await KubeSpawner.stop(self, now=now)
        return await super().stop(now=now)

    async def describe_exit(self, status) -> str:
        if self._ending:
            return f"exit status {status}: {self._ending}"
        return await super().describe_exit(status)
