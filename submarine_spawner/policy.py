"""The hub's one policy for notebooks, configured once (``c.SubmarinePolicy``, with its parts in
``c.ResourcePolicy`` and ``c.KernelSpecPolicy``) and read by the service and both spawners.

The service decides with it what a start may be (its admission), and the spawners place
notebooks with it (where their data lives). :attr:`SubmarinePolicy.context` is how requests
and environments are checked against it: the one pydantic validation context, built here.
"""

import os

from traitlets import Dict, Instance, Integer, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from .kernelspec import KernelSpecPolicy
from .resources import ResourcePolicy

# volume sources the restricted Pod Security Standard allows
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)


class SubmarinePolicy(Configurable):
    resources = Instance(ResourcePolicy, help="Which resources a notebook may ask for (c.ResourcePolicy).")

    @default("resources")
    def _default_resources(self):
        return ResourcePolicy(parent=self)

    kernel_specs = Instance(KernelSpecPolicy, help="What a kernelSpec may hold (c.KernelSpecPolicy).")

    @default("kernel_specs")
    def _default_kernel_specs(self):
        return KernelSpecPolicy(parent=self)

    default_namespace = Unicode("default", help="The namespace of notebooks that do not name one.").tag(config=True)

    allowed_namespaces = List(
        Unicode(),
        help="Namespaces notebooks may ask for (meta.namespace). Default: the default one. On "
        "Kubernetes, the hub's service account needs the pods, events and persistentvolumeclaims "
        "permissions in each.",
    ).tag(config=True)

    @default("allowed_namespaces")
    def _default_allowed_namespaces(self):
        return [self.default_namespace]

    data_dir = Unicode(
        help="The embedded default's data directory: notebooks' workspaces, logs and environments "
        "(SubmarineLocalSpawner), read by the service for /logs. Default: $SUBMARINE_DATA_DIR or ./data."
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self):
        return os.path.abspath(os.environ.get("SUBMARINE_DATA_DIR", "data"))

    volumes = Dict(
        value_trait=Dict(),
        help="Volumes an environment may mount on Kubernetes (environmentSpec.pod.volumes names them): "
        "name -> {'volume': a Kubernetes volume source (the restricted Pod Security Standard allows "
        f"{', '.join(sorted(RESTRICTED_VOLUMES))}), 'mountPath': where, 'readOnly': True (the default)}}. "
        "E.g. {'datasets': {'volume': {'persistentVolumeClaim': {'claimName': 'datasets'}}, 'mountPath': '/data'}}.",
    ).tag(config=True)

    @validate("volumes")
    def _volumes(self, proposal):
        for name, volume in proposal.value.items():
            kinds = set(volume.get("volume") or {}) - {"name"}
            if not kinds or not kinds <= RESTRICTED_VOLUMES or not volume.get("mountPath"):
                raise TraitError(
                    f"SubmarinePolicy.volumes[{name!r}]: a 'volume' of one of "
                    f"{', '.join(sorted(RESTRICTED_VOLUMES))}, and a 'mountPath'"
                )
        return {name: {"readOnly": True, **volume} for name, volume in proposal.value.items()}

    min_timeout = Integer(60, help="The shortest idleTimeout or maxRuntime (seconds) an environment may set.").tag(
        config=True
    )

    max_idle_timeout = Integer(0, help="The longest idleTimeout (seconds) an environment may set; 0: no bound.").tag(
        config=True
    )

    max_runtime = Integer(0, help="The longest maxRuntime (seconds) an environment may set; 0: no bound.").tag(
        config=True
    )

    @property
    def context(self) -> dict:
        """The validation context of requests and environments on this hub: the resource caps,
        pip URLs, the volumes and the bounds of run-time policies."""
        return {
            "policy": self.resources,
            **self.kernel_specs.context,
            "volumes": set(self.volumes),
            "min_timeout": self.min_timeout,
            "max_idle_timeout": self.max_idle_timeout,
            "max_runtime": self.max_runtime,
        }

    def namespace(self, asked: str | None) -> str:
        """The namespace of a notebook that asks for ``asked``; ValueError if it may not."""
        namespace = asked or self.default_namespace
        if namespace not in self.allowed_namespaces:
            raise ValueError(
                f"meta.namespace: '{namespace}' is not allowed here (allowed: {', '.join(self.allowed_namespaces)})"
            )
        return namespace
