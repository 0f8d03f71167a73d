"""A stand-in Kubernetes API server, and SubmarineKubeSpawners that talk to it.

The spawners are the real ones (kubespawner included), built as the hub builds
them for a named server. The server answers, over HTTP on 127.0.0.1, the calls
kubespawner makes to start, watch and stop a pod, and records them; a test's
``kubelet`` says what becomes of each pod created. Like a namespace labelled
``pod-security.kubernetes.io/enforce: restricted``, it refuses pods that do not
meet the restricted Pod Security Standard (pss.py).
"""

import asyncio
import itertools
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlsplit

from traitlets.config import Config

from submarine_spawner import SubmarineKubeSpawner
from submarine_spawner.contract import AdmittedSpec
from submarine_spawner.service import SubmarineServiceClient

from . import pss

OWNER = "e9ca23d68d884d4ebb19d07889727dae"
# the seed's notebook, as the service's admission answers it
SEED_OPTIONS = {
    "notebookId": "notebook_1626160071451_0001",
    "namespace": "default",
    "environment": {
        "name": "notebook-env",
        "dockerImage": "apache/submarine:jupyter-notebook-0.6.0",
        "kernelSpec": {
            "name": "submarine_jupyter_py3",
            "channels": ["defaults"],
            "condaDependencies": [],
            "pipDependencies": [],
        },
        "description": None,
        "image": None,
    },
    "envVars": {"TEST_ENV": "test"},
    "resources": "cpu=1,memory=1.0Gi",
}


def notebook_container(pod: dict, **status) -> dict:
    """A status of the pod's notebook container (with the fields Kubernetes always sends)."""
    image = pod.get("spec", {}).get("containers", [{}])[0].get("image", "example.org/image:1")
    return {"name": "notebook", "image": image, "imageID": "", "ready": False, "restartCount": 0, **status}


def running(pod: dict) -> dict:
    """The status kubelet gives a pod whose server started."""
    return {
        "phase": "Running",
        "podIP": "10.1.2.3",
        "containerStatuses": [notebook_container(pod, ready=True, state={"running": {}})],
    }


def bootstrap_failed(pod: dict) -> dict:
    """The status of a pod whose bootstrap could not install a pip dependency, restarted once."""
    return {
        "phase": "Running",
        "podIP": "10.1.2.3",
        "containerStatuses": [
            notebook_container(
                pod,
                restartCount=1,
                state={
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 10s restarting failed container=notebook",
                    }
                },
                lastState={
                    "terminated": {
                        # FallbackToLogsOnError: the end of the log
                        "exitCode": 1,
                        "reason": "Error",
                        "message": "Collecting pandsa\n"
                        "ERROR: Could not find a version that satisfies the requirement pandsa (from versions: none)\n"
                        "ERROR: No matching distribution found for pandsa\n"
                        "submarine-bootstrap: installing 1 pip dependencies failed: pip exited with status 1 "
                        "(its output is above)\n",
                    }
                },
            )
        ],
    }


def image_not_found(pod: dict) -> dict:
    image = pod["spec"]["containers"][0]["image"]
    return {
        "phase": "Pending",
        "containerStatuses": [
            notebook_container(
                pod, state={"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}
            )
        ],
    }


class FakeKubeAPI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_port}"
        self._versions = itertools.count(2)
        self.reset()

    def reset(self, kubelet=running):
        self.requests = []
        self.pods = {}  # "namespace/name" -> pod
        self.logs = {}  # "namespace/name" -> what the pod's notebook container wrote
        self.kubelet = kubelet

    def created(self, namespace: str, pod: dict) -> dict:
        metadata = pod["metadata"]
        metadata.update(
            namespace=namespace, uid=f"uid-{next(self._versions)}", resourceVersion=str(next(self._versions))
        )
        pod["status"] = self.kubelet(pod)
        self.pods[f"{namespace}/{metadata['name']}"] = pod
        return pod


class _Handler(BaseHTTPRequestHandler):
    server: FakeKubeAPI

    def _answer(self, code: int, body: dict | None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except ConnectionError:
            pass  # kubespawner stopped watching

    def _text(self, text: str):
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self):
        url = urlsplit(self.path)
        self.server.requests.append((self.command, url.path))
        # /api/v1/namespaces/{namespace}/{kind}[/{name}]
        _, _, _, _, namespace, kind, *name = url.path.split("/")
        return namespace, kind, name[0] if name else None, url.query

    def do_GET(self):
        namespace, kind, name, query = self._route()
        if kind == "pods" and self.path.split("?")[0].endswith("/log"):
            return self._text(self.server.logs.get(f"{namespace}/{name}", ""))
        if "watch=" in query:
            time.sleep(0.2)  # no news; kubespawner lists again
            return self._answer(200, None)
        items = (
            [pod for key, pod in self.server.pods.items() if key.startswith(f"{namespace}/")] if kind == "pods" else []
        )
        self._answer(200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})

    def do_POST(self):
        namespace, kind, _, _ = self._route()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        violations = pss.violations(body) if kind == "pods" else []
        if violations:
            name = body["metadata"]["name"]
            message = f'pods "{name}" is forbidden: violates PodSecurity "restricted:latest": {"; ".join(violations)}'
            return self._answer(
                403,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": message,
                    "reason": "Forbidden",
                    "code": 403,
                },
            )
        if kind == "pods":
            body = self.server.created(namespace, body)
        self._answer(201, body)

    def do_DELETE(self):
        namespace, kind, name, _ = self._route()
        if kind == "pods":
            self.server.pods.pop(f"{namespace}/{name}", None)
        self._answer(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

    def log_message(self, *args):
        pass


class AdmittingService(SubmarineServiceClient):
    """Our own service client, standing in for the Submarine service: the user_options a test
    gives are the spec the service admitted (a plain server for none); reports are kept."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reports = []

    async def admit(self, spawner, user_options):
        return AdmittedSpec.model_validate(user_options or {"namespace": "default"}, context={"allow_pip_urls": True})

    async def report(self, spawner, body, current=lambda: True):
        self.reports.append((spawner.name, body["event"], body["message"]))


def new_spawner(kube_api, server="test-nb", **config) -> SubmarineKubeSpawner:
    """A spawner of ``OWNER``'s named server. ``config``: traits of SubmarineKubeSpawner,
    or of another section as ``Section__trait``. Needs a running event loop."""
    sections = {"SubmarineKubeSpawner": {"k8s_api_host": kube_api.url}}
    for key, value in config.items():
        section, _, trait = key.rpartition("__")
        sections.setdefault(section or "SubmarineKubeSpawner", {})[trait] = value
    return SubmarineKubeSpawner(
        _mock=True,
        config=Config(sections),
        user=SimpleNamespace(name=OWNER, id=1, url=f"/user/{OWNER}/"),
        orm_spawner=SimpleNamespace(
            name=server, display_name=server, server=None, last_activity=None, user_options={}
        ),
        service=AdmittingService(),
    )


async def prepare(spawner, user_options):
    """What the hub and kubespawner do with user_options before making the pod (the
    admission answers them as they are)."""
    spawner.user_options = user_options
    await spawner._run_apply_user_options(user_options)
    await spawner.load_user_options()


def run(coroutine_function):
    """Run a test's coroutine in a loop of its own, and stop kubespawner's (process-wide)
    watchers with it: the next loop starts its own."""

    async def main():
        try:
            return await coroutine_function()
        finally:
            await SubmarineKubeSpawner._stop_all_reflectors()

    return asyncio.run(main())
