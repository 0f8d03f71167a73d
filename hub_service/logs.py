"""The last lines a notebook's single-user server wrote.

Locally, the log file the local spawner writes; on Kubernetes, the pod's logs
from the cluster's API (the pod found by its ``notebook-id`` label).
"""

import asyncio

from submarine_spawner.paths import log_file, tail_lines


class LocalLogs:
    def __init__(self, data_dir: str):
        self.data_dir = data_dir

    async def tail(self, notebook, lines: int) -> list[str]:
        path = log_file(self.data_dir, notebook["owner"], notebook["server_name"])
        return await asyncio.to_thread(tail_lines, path, lines)


class KubeLogs:
    """Needs the hub's service account (or kubeconfig) with pods/log read in the namespaces."""

    def __init__(self):
        self._configured = None

    async def _api_client(self):
        from kubernetes_asyncio import client, config

        if self._configured is None:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                await config.load_kube_config()
            self._configured = True
        return client.ApiClient()

    async def tail(self, notebook, lines: int) -> list[str]:
        from kubernetes_asyncio import client

        from submarine_spawner.k8s import label_value

        async with await self._api_client() as api:
            core = client.CoreV1Api(api)
            pods = await core.list_namespaced_pod(
                notebook["namespace"], label_selector=f"notebook-id={label_value(notebook['notebook_id'])}"
            )
            if not pods.items:
                return []  # not running: no pod, no logs
            text = await core.read_namespaced_pod_log(
                pods.items[0].metadata.name, notebook["namespace"], container="notebook", tail_lines=lines
            )
        return text.splitlines()
