"""Tenant isolation: one admission for every door, quotas that hold under concurrency, and
notebooks that run as nobody's root and read nobody else's files.

Every start passes the service's admission, whichever door it came through; these tests
try what an ordinary user with their own token could try at the hub's own REST API.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from .harness import Hub, notebook_body, wait_for
from .helpers import hub_start, lab_processes, postgres_database, token_of
from .lab import run_in_kernel

KERNEL = "submarine_jupyter_py3"  # notebook-env's kernel


REFUSED = [
    ({"environment": {"name": "no-such-env"}}, 404, "Environment not found."),
    (
        {"environment": {"name": "notebook-env"}, "namespace": "kube-system"},
        400,
        "meta.namespace: 'kube-system' is not allowed here",
    ),
    ({"environment": {"name": "notebook-env"}, "resources": "cpu=100000"}, 400, "spec.resources: cpu=100000 is over"),
    (
        {"environment": {"name": "notebook-env"}, "envVars": {"PERL5OPT": "x", "PATH": "/tmp"}},
        400,
        "spec.envVars: 'PATH' is reserved",
    ),
    ({"dockerImage": "evil/image"}, 400, "user_options.dockerImage: is not a known field"),
    ({}, 400, "user_options.environment.name: is required"),
]


@pytest.mark.parametrize("options,status,words", REFUSED, ids=[words for _, _, words in REFUSED])
def test_a_start_at_the_hubs_door_is_refused_as_the_api_refuses_and_leaves_nothing(hub, alice, options, status, words):
    owner, api = alice
    code, message = hub_start(hub, owner, token_of(api), "door", options)
    assert code == status and words in message, (code, message)
    assert api.call("GET", "/api/v1/notebook")[1]["result"] == []
    assert lab_processes(owner) == []
    # the server the hub made for the refused start goes too
    wait_for(
        lambda: "door" not in (hub.hub_user(owner) or {}).get("servers", {}),
        30,
        0.5,
        "the refused server to be removed",
    )


def test_a_clients_notebook_id_is_never_taken(hub, alice, bob, notebooks):
    """Ids are the service's: one owner cannot squat the ids the spawn form gives next."""
    (owner, api), (other, other_api) = alice, bob
    notebooks.track_owner(api, owner)
    notebooks.track_owner(other_api, other)
    options = {"notebookId": "notebook_1795000000000_0001", "environment": {"name": "notebook-env"}}
    ids = set()
    for who, client in ((owner, api), (other, other_api)):
        code, message = hub_start(hub, who, token_of(client), "squat", options)
        assert code in (201, 202), message
        (notebook,) = client.call("GET", "/api/v1/notebook")[1]["result"]
        ids.add(notebook["notebookId"])
        hub.wait_status(client, notebook["notebookId"], "running")
        assert client.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] == 200
    assert len(ids) == 2 and options["notebookId"] not in ids


def test_only_the_hubs_spawners_may_ask_for_admission(hub, alice):
    owner, api = alice
    body = {"owner": owner, "server": "sneaky", "userOptions": {"environment": {"name": "notebook-env"}}}
    for client in (api, hub.admin):
        code, reply = client.call("POST", "/api/v1/spawner/admission", body)
        assert code == 403 and "custom:submarine:admission" in reply["message"], reply
        report = {"owner": owner, "server": "x", "event": "removed"}
        assert client.call("POST", "/api/v1/spawner/report", report)[0] == 403
    assert api.call("GET", "/api/v1/notebook")[1]["result"] == []


# --- quotas: at every door, under concurrency, on both databases ---------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def quota_hub(request, tmp_path_factory):
    """A hub whose owners may have 2 notebooks and 1 cpu of running ones."""
    data = tmp_path_factory.mktemp(f"quota-{request.param}")
    extra = data / "extra_config.py"
    extra.write_text("c.OwnerQuota.max_notebooks = 2\nc.OwnerQuota.max_cpu = 1\n")
    if request.param == "sqlite":
        hub = Hub(data, SUBMARINE_EXTRA_CONFIG=str(extra)).start()
        yield hub
        hub.stop()
    else:
        with postgres_database() as url:
            hub = Hub(data, SUBMARINE_EXTRA_CONFIG=str(extra), SUBMARINE_DB_URL=url).start()
            yield hub
            hub.stop()


def test_concurrent_creates_never_pass_the_quota(quota_hub, unique, notebooks):
    hub = quota_hub
    owner = f"many-{unique}"
    api = hub.client(owner)
    notebooks.track_owner(api, owner)
    with ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda i: api.call("POST", "/api/v1/notebook", notebook_body(f"n-{i}", resources="")), range(8))
        )
    codes = sorted(code for code, _ in replies)
    assert codes == [200, 200] + [403] * 6, replies
    assert all("may have at most 2" in body["message"] for code, body in replies if code == 403)
    assert api.call("GET", "/api/v1/notebook")[1]["attributes"]["total"] == 2


def test_concurrent_starts_at_every_door_never_pass_the_quota(quota_hub, unique, notebooks):
    """API creates and hub starts at once, with cpu: never more than 1 cpu running, 2 notebooks."""
    hub = quota_hub
    owner = f"doors-{unique}"
    api = hub.client(owner)
    notebooks.track_owner(api, owner)
    token = token_of(api)

    def attempt(i):
        if i % 2:
            return api.call("POST", "/api/v1/notebook", notebook_body(f"api-{i}", resources="cpu=0.5"))[0]
        return hub_start(
            hub, owner, token, f"hub-{i}", {"environment": {"name": "notebook-env"}, "resources": "cpu=0.5"}
        )[0]

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(8)))
    assert sorted(codes).count(403) == 6, codes
    notebooks = api.call("GET", "/api/v1/notebook")[1]["result"]
    assert len(notebooks) == 2
    running = [n for n in notebooks if n["status"] != "failed"]
    assert sum(0.5 for _ in running) <= 1


def test_quotas_hold_at_the_hubs_door(quota_hub, unique, notebooks):
    hub = quota_hub
    owner = f"door-quota-{unique}"
    api = hub.client(owner)
    notebooks.track_owner(api, owner)
    token = token_of(api)
    code, _ = hub_start(hub, owner, token, "first", {"environment": {"name": "notebook-env"}, "resources": "cpu=1"})
    assert code in (201, 202)
    code, message = hub_start(
        hub, owner, token, "second", {"environment": {"name": "notebook-env"}, "resources": "cpu=0.5"}
    )
    assert code == 403 and "cpu 1 in use + 0.5 asked > 1" in message, message
    code, message = hub_start(hub, owner, token, "second", {"environment": {"name": "notebook-env"}})
    assert code in (201, 202), message
    code, message = hub_start(hub, owner, token, "third", {"environment": {"name": "notebook-env"}})
    assert code == 403 and "may have at most 2" in message, message
    assert sorted(n["name"] for n in api.call("GET", "/api/v1/notebook")[1]["result"]) == ["first", "second"]


# --- no notebook as root, and none reads another's files ----------------------------------------

READ = """
import os
for path in {paths!r}:
    try:
        open(path).read(1)
        print("READ", path)
    except OSError as e:
        print("REFUSED", path, type(e).__name__)
print("UID", os.getuid())
"""


@pytest.mark.skipif(os.getuid() != 0, reason="the hub runs notebooks as users of their own only when it is root")
def test_notebook_code_reads_no_secret_no_database_and_no_other_owners_files(hub, alice, bob, notebooks):
    (owner, api), (other, other_api) = alice, bob
    mine = notebooks.create_running(hub, api, "snoop")
    theirs = notebooks.create_running(hub, other_api, "private")
    secret = run_in_kernel(
        hub,
        other,
        "private",
        token_of(other_api),
        KERNEL,
        "import os; open('secret.txt', 'w').write('theirs'); print(os.path.abspath('secret.txt'))",
    )
    data = hub.data_dir
    paths = [
        str(data / name)
        for name in (
            "admin-token",
            "admin-password",
            "spawner-token",
            "service-token",
            "jupyterhub_cookie_secret",
            "jupyterhub.sqlite",
            "submarine.sqlite",
        )
    ]
    paths += [secret.strip(), str(data / "logs" / other / "private.log")]
    output = run_in_kernel(hub, owner, "snoop", token_of(api), KERNEL, READ.format(paths=paths))
    assert "READ" not in output, output
    assert output.count("REFUSED") == len(paths), output
    uid = int(output.split("UID")[1].split()[0])
    assert uid != 0
    # the owner's own workspace is theirs
    assert (
        run_in_kernel(
            hub,
            owner,
            "snoop",
            token_of(api),
            KERNEL,
            "open('mine.txt', 'w').write('x'); print(open('mine.txt').read())",
        ).strip()
        == "x"
    )
    for client, notebook in ((api, mine), (other_api, theirs)):
        assert client.call("DELETE", f"/api/v1/notebook/{notebook['notebookId']}")[0] == 200
