"""``make bench``: the Submarine API against JupyterHub's own API, measured in one run.

(a) POST-to-running: create through /api/v1/notebook and poll until ``running``,
    vs a direct named-server spawn through the hub's REST API (same spawner,
    same user_options), interleaved round by round.
(b) Reads: GET /api/v1/notebook/{id} vs the hub's GET /hub/api/users/{u}/servers/{s}
    for the same running server, each on its own port and both through the proxy.
(c) Environments: POST-to-running of the first notebook in an environment with a pip
    dependency (it builds the environment) and of later ones (they find it built), vs a
    notebook in an environment with no dependencies, interleaved round by round.

Prints medians and ratios (ours / hub's). Machines here are noisy: read the ratios.
"""

import argparse
import http.client
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from tests.harness import Api, Hub, notebook_body
from tests.wheels import make_wheel, requirement

POLL = 0.01


def spawn_via_api(hub: Hub, api: Api, name: str, environment: str = "notebook-env") -> float:
    start = time.perf_counter()
    code, body = api.call("POST", "/api/v1/notebook", notebook_body(name, environment=environment, resources=""))
    assert code == 200, body
    notebook_id = body["result"]["notebookId"]
    while api.call("GET", f"/api/v1/notebook/{notebook_id}")[1]["result"]["status"] != "running":
        time.sleep(POLL)
    elapsed = time.perf_counter() - start
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200
    return elapsed


def spawn_via_hub(hub: Hub, owner: str, options: dict, name: str) -> float:
    path = f"/users/{owner}/servers/{name}"
    start = time.perf_counter()
    response = hub.hub_api.post(path, json={"user_options": options})
    assert response.status_code in (201, 202), response.text
    while not hub.hub_api.get(path).json().get("ready"):
        time.sleep(POLL)
    elapsed = time.perf_counter() - start
    assert hub.hub_api.delete(path, json={"remove": True}).status_code in (202, 204)
    return elapsed


def median_ms(samples):
    return 1000 * statistics.median(samples)


class Reader:
    """A lean keep-alive HTTP client, so the servers' time dominates what is measured."""

    def __init__(self, base: str, token: str):
        self.base = base
        url = urlparse(base)
        self.connection = http.client.HTTPConnection(url.hostname, url.port)
        self.prefix = url.path.rstrip("/")
        self.headers = {"Authorization": f"token {token}"}

    def timed_gets(self, path: str, count: int) -> list[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            self.connection.request("GET", self.prefix + path, headers=self.headers)
            response = self.connection.getresponse()
            body = response.read()
            samples.append(time.perf_counter() - start)
            assert response.status == 200, body
        return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=7, help="spawn rounds for (a)")
    parser.add_argument("--reads", type=int, default=2000, help="GETs of each kind for (b)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="submarine-bench-") as data:
        # pip URLs for (c)'s local wheel; no package index: nothing is downloaded
        hub = Hub(Path(data), SUBMARINE_ALLOW_PIP_URLS="1", PIP_NO_INDEX="1").start()
        try:
            owner = "bench"
            api = hub.client(owner)
            # warm up: first spawns pay for cold imports and caches
            spawn_via_api(hub, api, "warmup")
            code, body = api.call("POST", "/api/v1/notebook", notebook_body("options", resources=""))
            options = hub.hub_user(owner)["servers"]["options"]["user_options"]
            api.call("DELETE", f"/api/v1/notebook/{body['result']['notebookId']}")
            spawn_via_hub(hub, owner, options, "warmup-hub")

            ours, theirs = [], []
            for i in range(args.spawns):
                ours.append(spawn_via_api(hub, api, f"api-{i}"))
                theirs.append(spawn_via_hub(hub, owner, options, f"hub-{i}"))
            a_ours, a_hub = median_ms(ours), median_ms(theirs)

            code, body = api.call("POST", "/api/v1/notebook", notebook_body("reader", resources=""))
            notebook_id = body["result"]["notebookId"]
            hub.wait_status(api, notebook_id, "running")
            token = api.headers["Authorization"].split()[1]
            ours_path, hubs_path = f"/api/v1/notebook/{notebook_id}", f"/users/{owner}/servers/reader"
            routes = {
                "own ports": (hub.direct, f"http://127.0.0.1:{hub.hub_port}/hub/api"),
                "through the proxy": (hub.public + "/services/submarine", hub.public + "/hub/api"),
            }
            reads = {}
            for label, (our_base, hub_base) in routes.items():
                ours_reader, hubs_reader = Reader(our_base, token), Reader(hub_base, token)
                ours_reader.timed_gets(ours_path, 50)
                hubs_reader.timed_gets(hubs_path, 50)
                our_samples, hub_samples = [], []
                for _ in range(10):  # interleave batches: both see the same noise
                    our_samples += ours_reader.timed_gets(ours_path, args.reads // 10)
                    hub_samples += hubs_reader.timed_gets(hubs_path, args.reads // 10)
                reads[label] = (median_ms(our_samples), median_ms(hub_samples))

            wheel = make_wheel(Path(data), "benchpkg", source="VALUE = 1\n")
            code, body = hub.admin.call(
                "POST",
                "/api/v1/environment",
                {
                    "name": "bench-pip",
                    "dockerImage": "python:3.11-slim",
                    "kernelSpec": {"name": "bench_py3", "pipDependencies": [requirement(wheel)]},
                },
            )
            assert code == 200, body
            first = 1000 * spawn_via_api(hub, api, "pip-first", "bench-pip")
            built, plain = [], []
            for i in range(args.spawns):
                built.append(spawn_via_api(hub, api, f"pip-{i}", "bench-pip"))
                plain.append(spawn_via_api(hub, api, f"plain-{i}"))
            c_built, c_plain = median_ms(built), median_ms(plain)
        finally:
            hub.stop()

    print()
    print("Submarine API vs JupyterHub API, one hub, one run (medians; ratio = ours / hub's)")
    print(
        f"(a) POST to running, {args.spawns} rounds: API {a_ours:.0f} ms, direct hub spawn {a_hub:.0f} ms, "
        f"ratio {a_ours / a_hub:.3f} (target <= 1.05)"
    )
    for label, (mine, hubs) in reads.items():
        print(
            f"(b) GET one notebook, {label}, {args.reads} each: API {mine:.2f} ms, hub server model "
            f"{hubs:.2f} ms, ratio {mine / hubs:.3f} (target <= 0.5)"
        )
    print(
        f"(c) first notebook in an environment with 1 pip dependency (builds it): {first:.0f} ms, "
        f"ratio {first / c_plain:.3f} to no dependencies ({c_plain:.0f} ms)"
    )
    print(
        f"(c) later notebooks in it, {args.spawns} rounds: {c_built:.0f} ms, no dependencies {c_plain:.0f} ms, "
        f"ratio {c_built / c_plain:.3f} (target <= 1.1)"
    )


if __name__ == "__main__":
    main()
