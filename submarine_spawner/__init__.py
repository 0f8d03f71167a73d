"""The spawner side of Submarine notebooks on JupyterHub.

``SubmarineLocalSpawner`` (local processes, the embedded default) and
``SubmarineKubeSpawner`` (Kubernetes pods) read the same ``user_options``,
validated by :class:`submarine_spawner.options.NotebookOptions`.
"""

__all__ = ["SubmarineLocalSpawner", "SubmarineKubeSpawner"]


def __getattr__(name):
    # import lazily: the Kubernetes client is heavy and the local path never needs it
    if name == "SubmarineLocalSpawner":
        from .local import SubmarineLocalSpawner

        return SubmarineLocalSpawner
    if name == "SubmarineKubeSpawner":
        from .kube import SubmarineKubeSpawner

        return SubmarineKubeSpawner
    raise AttributeError(name)
