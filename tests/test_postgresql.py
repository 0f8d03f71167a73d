"""The service on PostgreSQL (for replicas and HA) behind a real hub."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .harness import Hub, notebook_body
from .helpers import postgres_database


@pytest.fixture(scope="module")
def pg_hub(tmp_path_factory):
    with postgres_database() as url:
        hub = Hub(tmp_path_factory.mktemp("pg-hub"), SUBMARINE_DB_URL=url).start()
        yield hub
        hub.stop()


def test_seed_flow_on_postgresql(pg_hub, notebooks):
    hub = pg_hub
    assert not (hub.data_dir / "submarine.sqlite").exists()
    api = hub.client("pat")
    running = notebooks.create_running(hub, api, "pg-nb")
    notebook_id = running["notebookId"]
    assert requests.get(hub.public + running["url"], headers=api.headers, timeout=30).status_code == 200
    code, body = api.call("GET", "/api/v1/notebook?id=pat")
    assert [n["notebookId"] for n in body["result"]] == [notebook_id]
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200
    assert api.call("GET", f"/api/v1/notebook/{notebook_id}")[0] == 404


def test_concurrent_creates_on_postgresql(pg_hub, notebooks):
    hub = pg_hub
    api = hub.client("quinn")
    notebooks.track_owner(api, "quinn")
    with ThreadPoolExecutor(6) as pool:
        codes = sorted(
            pool.map(lambda _: api.call("POST", "/api/v1/notebook", notebook_body("race", resources=""))[0], range(6))
        )
    assert codes == [200] + [409] * 5
    code, body = api.call("GET", "/api/v1/notebook")
    assert len(body["result"]) == 1


def test_environments_on_postgresql(pg_hub):
    admin = pg_hub.admin
    names = {e["environmentSpec"]["name"] for e in admin.call("GET", "/api/v1/environment")[1]["result"]}
    assert {"notebook-env", "notebook-gpu-env"} <= names
    spec = {"name": "pg-env", "dockerImage": "python:3.11"}
    assert admin.call("POST", "/api/v1/environment", spec)[0] == 200
    assert admin.call("POST", "/api/v1/environment", spec)[0] == 409
    assert admin.call("DELETE", "/api/v1/environment/pg-env")[0] == 200
