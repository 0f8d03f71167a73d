"""``make bench-scale``: the API with 1,000 and 10,000 notebooks, against the hub's own API in one run.

For each scale a new hub is seeded with that many running notebooks, ten per user on average
(one owner has 10, one 100, and at 10,000 one has 1,000), one in ten created
through ``POST /api/v1/notebook`` and the others through the hub's own REST API (a named
server with ``user_options`` naming the environment: the hub door, admitted by the service
like any start). Their servers are one stub HTTP server (``bench/stub.py``): the hub and the
service do all they do for a real lab, and the machine need not run 10,000 labs.

Then, as ratios against the hub in the same run (ours / hub's):
GET one notebook vs the hub's GET of its server; one owner's list at 10/100/1,000 vs the hub's
GET of that user; the admin's first and last page of 100 notebooks vs the hub's first and
last page of 10 users (about 100 servers); requests/s at concurrency 1/8/32 (wrk); idle CPU
of the hub and the service over 60 s; the hub API's p99 with the service running vs paused;
the quick pass's duration and what a full pass costs the hub; how soon a stop made through
the hub's API shows; start-up of hub and service to correct statuses; RSS.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.run import Reader
from hub_service.hub.client import PAGE, PAGINATION
from tests.harness import ROOT, Api, Hub, free_port, notebook_body, wait_for

ENVIRONMENT = "notebook-env"
TICKS = os.sysconf("SC_CLK_TCK")


def plan(total: int) -> dict[str, int]:
    """Notebooks per owner: ten each on average, with owners of exactly 10, 100 and 1,000."""
    owners = {"own10": 10, "own100": 100} | ({"own1000": 1000} if total >= 10_000 else {})
    users = total // 10 - len(owners)
    rest = total - sum(owners.values())
    for i in range(users):
        owners[f"user{i:04}"] = rest // users + (i < rest % users)
    return owners


# --- seeding ---------------------------------------------------------------------------


def seed(hub: Hub, owners: dict[str, int], workers: int = 8) -> dict:
    """Create every notebook, one in ten through the API and the rest through the hub's API."""
    names = list(owners)
    for i in range(0, len(names), 500):
        response = hub.hub_api.post("/users", json={"usernames": names[i : i + 500]})
        assert response.status_code in (201, 409), response.text
    jobs = [(owner, f"nb-{i:04}") for owner, count in owners.items() for i in range(count)]
    api = Api(hub.direct, hub.admin.headers["Authorization"].split()[1])
    retries = []

    def create(job):
        owner, name = job
        if int(name[3:]) % 10 == 0:
            # 503: the hub did not take it in time and nothing was made (409 while that is
            # undone); a client tries again, as the message says
            for _ in range(10):
                code, body = api.call("POST", "/api/v1/notebook", notebook_body(name, owner=owner, resources=""))
                if code not in (409, 503) or "try again" not in body["message"]:
                    break
                retries.append(name)
                time.sleep(5)
            assert code == 200, body
        else:
            path = f"/users/{owner}/servers/{name}"
            response = hub.hub_api.post(path, json={"user_options": {"environment": {"name": ENVIRONMENT}}})
            assert response.status_code in (201, 202), response.text

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for done, _ in enumerate(pool.map(create, jobs), 1):
            if done % 1000 == 0:
                print(f"  {done} of {len(jobs)} created, {time.perf_counter() - start:.0f} s", flush=True)
    created = time.perf_counter() - start
    wait_for(lambda: counted(hub, "creating") == 0, 1800, 1.0, "every notebook running or failed")
    return {
        "notebooks": len(jobs),
        "users": len(owners),
        "through the API": sum(1 for _, name in jobs if int(name[3:]) % 10 == 0),
        "retried": len(retries),
        "created s": created,
        "settled s": time.perf_counter() - start,
        "failed": counted(hub, "failed"),
    }


def counted(hub: Hub, status: str) -> int:
    code, body = hub.admin.call("GET", f"/api/v1/notebook?status={status}&limit=1")
    assert code == 200, body
    return body["attributes"]["total"]


# --- measuring -------------------------------------------------------------------------


def quantiles(samples: list[float]) -> tuple[float, float]:
    """Median and p99, in ms."""
    ordered = sorted(samples)
    return 1000 * statistics.median(ordered), 1000 * ordered[int(0.99 * (len(ordered) - 1))]


def compare(ours: Reader, our_path: str, hubs: Reader, hub_path: str, count: int) -> tuple:
    """Medians of ``count`` GETs of each, interleaved in batches so both see the same noise."""
    ours.timed_gets(our_path, 5)
    hubs.timed_gets(hub_path, 5)
    mine, theirs = [], []
    batch = max(1, count // 10)
    for _ in range(10):
        mine += ours.timed_gets(our_path, batch)
        theirs += hubs.timed_gets(hub_path, batch)
    return quantiles(mine)[0], quantiles(theirs)[0]


def wrk(url: str, token: str, connections: int, seconds: int) -> float:
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(connections, 2)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "-H",
            f"Authorization: token {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert not non_2xx, out
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def pids_of(pattern: bytes, data_dir: Path) -> list[int]:
    """The processes whose command line has ``pattern`` and whose environment names ``data_dir``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and pattern in (entry / "cmdline").read_bytes():
                if f"SUBMARINE_DATA_DIR={data_dir}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def pid_of(pattern: bytes, data_dir: Path) -> int:
    return pids_of(pattern, data_dir)[0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def pass_seconds(hub: Hub) -> dict[str, tuple[float, int]]:
    """The status passes' total seconds and count, by kind, from the service's metrics."""
    text = hub.admin.get("/metrics").text
    found = {}
    for kind in ("quick", "full"):
        total = re.search(rf'submarine_sync_pass_seconds_sum{{kind="{kind}"}} ([\d.e+-]+)', text)
        count = re.search(rf'submarine_sync_pass_seconds_count{{kind="{kind}"}} ([\d.e+-]+)', text)
        found[kind] = (float(total.group(1)), int(float(count.group(1)))) if total else (0.0, 0)
    return found


def full_listing(hub: Hub) -> tuple[float, float]:
    """A full pass's reads of the hub (every user with every server, a page at a time, as the
    service reads them): seconds, and the hub's CPU seconds."""
    cpu, start, offset = cpu_seconds(hub.proc.pid), time.perf_counter(), 0
    while offset is not None:
        query = f"/users?include_stopped_servers=1&limit={PAGE}&offset={offset}"
        page = hub.hub_api.get(query, headers={"Accept": PAGINATION}).json()
        offset = (page["_pagination"].get("next") or {}).get("offset")
    return time.perf_counter() - start, cpu_seconds(hub.proc.pid) - cpu


def status_of(hub: Hub, owner: str, name: str) -> str | None:
    """The notebook's status in the API, None while the service does not answer."""
    try:
        code, body = hub.admin.call("GET", f"/api/v1/notebook?id={owner}&limit=1000", timeout=5)
    except requests.RequestException:
        return None
    if code != 200:
        return None
    return next((nb["status"] for nb in body["result"] if nb["name"] == name), None)


def stop_through_hub(hub: Hub, owner: str, name: str):
    response = hub.hub_api.delete(f"/users/{owner}/servers/{name}")
    assert response.status_code in (202, 204), response.text


# --- one scale -------------------------------------------------------------------------


def measure(total: int, stub_url: str, idle: int, seconds: int) -> list[tuple]:
    rows = []
    owners = plan(total)
    with tempfile.TemporaryDirectory(prefix=f"submarine-scale-{total}-") as data:
        hub = Hub(
            Path(data),
            config=ROOT / "bench" / "scale_config.py",
            PYTHONPATH=str(ROOT),
            SUBMARINE_BENCH_STUB_URL=stub_url,
            SUBMARINE_SYNC_INTERVAL="2",
            SUBMARINE_KEEP_SERVERS="1",
        ).start()
        try:
            print(f"{total} notebooks: seeding", flush=True)
            seeded = seed(hub, owners)
            print(f"  {seeded}", flush=True)
            rows.append(
                (
                    f"seed {seeded['notebooks']} notebooks of {seeded['users']} users "
                    f"({seeded['through the API']} through the API, {seeded['retried']} tries again after a 503; "
                    "the rest through the hub's)",
                    f"{seeded['created s']:.0f} s to create, {seeded['settled s']:.0f} s to all running "
                    f"but {seeded['failed']} failed",
                    "",
                    "",
                )
            )
            token = hub.admin.headers["Authorization"].split()[1]
            ours, hubs = Reader(hub.direct, token), Reader(f"http://127.0.0.1:{hub.hub_port}/hub/api", token)
            one_id = next(nb["notebookId"] for nb in hub.admin.call("GET", "/api/v1/notebook?id=own10")[1]["result"])
            one_name = hub.admin.call("GET", f"/api/v1/notebook/{one_id}")[1]["result"]["name"]
            our_one, hub_one = f"/api/v1/notebook/{one_id}", f"/users/own10/servers/{one_name}"
            rows.append(("GET one notebook (ms)", *ratio(*compare(ours, our_one, hubs, hub_one, 1000))))

            for owner in [name for name in ("own10", "own100", "own1000") if name in owners]:
                owner_token = hub.user_token(owner)
                mine, theirs = Reader(hub.direct, owner_token), Reader(hubs.base, owner_token)
                count = {"own10": 300, "own100": 100, "own1000": 20}[owner]
                measured = compare(mine, f"/api/v1/notebook?id={owner}&limit=1000", theirs, f"/users/{owner}", count)
                rows.append((f"list one owner's {owners[owner]} (ms)", *ratio(*measured)))

            users = len(owners)
            for label, offset, user_offset in (("first", 0, 0), ("last", total - 100, users - 10)):
                measured = compare(
                    ours,
                    f"/api/v1/notebook?limit=100&offset={offset}",
                    hubs,
                    f"/users?limit=10&offset={user_offset}",
                    100,
                )
                rows.append((f"admin list, {label} page (ms; hub: 10 users)", *ratio(*measured)))

            for connections in (1, 8, 32):
                mine = wrk(hub.direct + our_one, token, connections, seconds)
                theirs = wrk(hubs.base + hub_one, token, connections, seconds)
                # more is better here: the ratio is still ours / hub's
                rows.append((f"GET one, requests/s at concurrency {connections}", *ratio(mine, theirs)))

            hub_pid = hub.proc.pid
            service_pid = pid_of(b"hub_service", hub.data_dir)
            time.sleep(5)  # what the benchmark's requests started settles
            passes_before = pass_seconds(hub)
            cpu_before = cpu_seconds(hub_pid), cpu_seconds(service_pid)
            time.sleep(idle)
            hub_cpu, service_cpu = (
                100 * (cpu_seconds(pid) - before) / idle
                for pid, before in zip((hub_pid, service_pid), cpu_before, strict=True)
            )
            passes = pass_seconds(hub)
            rows.append((f"idle CPU over {idle} s (% of a core; target: sum < 5)", *ratio(service_cpu, hub_cpu)))
            quick_total = passes["quick"][0] - passes_before["quick"][0]
            quick_count = passes["quick"][1] - passes_before["quick"][1]
            quick_mean = f"{1000 * quick_total / max(quick_count, 1):.1f}"
            rows.append(("quick pass while idle (ms, mean)", quick_mean, "", ""))
            wall, cpu = full_listing(hub)
            rows.append(
                (
                    "what a full pass asks of the hub: every server, in the service's pages (s; hub CPU s; "
                    "% of a core over the default full_sync_interval, 300 s)",
                    f"{wall:.1f}; {cpu:.1f}; {100 * cpu / 300:.1f}",
                    "",
                    "",
                )
            )

            rows.append(("hub API p99, service running vs paused (ms)", *ratio(*hub_p99(hub, hubs, service_pid))))
            rows.append(("RSS (MiB)", *ratio(rss_mib(service_pid), rss_mib(hub_pid))))

            # a stop made outside the API: the spawner's report, else the next quick pass
            outside = [
                nb["name"] for nb in hub.admin.call("GET", "/api/v1/notebook?id=own100&limit=1000")[1]["result"]
            ]
            seen = []
            for name in outside[1:6]:
                start = time.perf_counter()
                stop_through_hub(hub, "own100", name)
                wait_for(lambda name=name: status_of(hub, "own100", name) == "stopped", 60, 0.05, "the stop")
                seen.append(time.perf_counter() - start)
            rows.append(
                (
                    "a stop through the hub's API seen by the API (s, worst of 5; target < 5)",
                    f"{max(seen):.2f}",
                    "",
                    "",
                )
            )

            # start-up: stops made while the service is paused are not reported; after a restart
            # of both, the service must find them
            missed = outside[6:11]
            os.kill(service_pid, signal.SIGSTOP)
            for name in missed:
                stop_through_hub(hub, "own100", name)
            # both crash (the hub first, or it starts the service again); the new hub ends the
            # old proxy (its pid file) and finds the servers, which are the stub's, still up
            hub.proc.kill()
            hub.proc.wait()
            os.kill(service_pid, signal.SIGKILL)
            start = time.perf_counter()
            hub.launch()
            wait_for(lambda: hub_answers(hubs.base), 900, 0.1, "the hub")
            hub_ready = time.perf_counter() - start
            wait_for(
                lambda: (
                    all(status_of(hub, "own100", name) == "stopped" for name in missed)
                    and status_of(hub, "own100", outside[11]) == "running"
                ),
                900,
                0.2,
                "correct statuses",
            )
            rows.append(
                (
                    "start-up after a crash of hub and service, to correct statuses (s; hub: its API answers)",
                    *ratio(time.perf_counter() - start, hub_ready),
                )
            )
        finally:
            hub.stop()
            # a hub started again after a crash leaves its proxy and service running when it
            # stops (seen here; not the hub the tests stop)
            for pid in pids_of(b"", hub.data_dir):
                os.kill(pid, signal.SIGKILL)
    return rows


def hub_answers(base: str) -> bool:
    try:
        return Api(base).get("/", timeout=2).status_code == 200
    except Exception:
        return False


def hub_p99(hub: Hub, hubs: Reader, service_pid: int) -> tuple[float, float]:
    """p99 of the hub's GET of a user with the service running, and with it paused (SIGSTOP)."""
    running, paused = [], []
    hubs.timed_gets("/users/own10", 20)
    for _ in range(5):
        running += hubs.timed_gets("/users/own10", 200)
        os.kill(service_pid, signal.SIGSTOP)
        try:
            paused += hubs.timed_gets("/users/own10", 200)
        finally:
            os.kill(service_pid, signal.SIGCONT)
    return quantiles(running)[1], quantiles(paused)[1]


def ratio(ours: float, hubs: float) -> tuple[str, str, str]:
    return f"{ours:.2f}", f"{hubs:.2f}", f"{ours / hubs:.2f}" if hubs else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1000,10000", help="numbers of notebooks, comma-separated")
    parser.add_argument("--idle", type=int, default=60, help="seconds of idle CPU measured")
    parser.add_argument("--seconds", type=int, default=10, help="seconds of each wrk run")
    args = parser.parse_args()

    port = free_port()
    stub = subprocess.Popen([sys.executable, "-m", "bench.stub", str(port)], cwd=ROOT)
    results = {}
    try:
        for total in map(int, args.scales.split(",")):
            results[total] = measure(total, f"http://127.0.0.1:{port}", args.idle, args.seconds)
            show(total, results[total])
    finally:
        stub.terminate()
    print("\nAll scales")
    for total, rows in results.items():
        show(total, rows)


def show(total: int, rows: list[tuple]):
    print(f"\n{total:,} notebooks: ours | the hub's | ratio (ours / hub's)", flush=True)
    for label, mine, theirs, r in rows:
        print(f"  {label}: {mine}" + (f" | {theirs} | {r}" if theirs else ""), flush=True)


if __name__ == "__main__":
    main()
