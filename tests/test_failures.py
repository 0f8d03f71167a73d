"""Notebooks whose lab cannot start, or dies, end ``failed`` with the reason."""

import os
import signal

from .harness import wait_for


def test_a_lab_that_cannot_start_fails_with_the_reason(hub, alice, notebooks):
    owner, api = alice
    # a broken Python home: the server process exits at once
    made = notebooks.create(api, "cannot-start", env_vars={"PYTHONHOME": "/nonexistent"}, resources="")
    failed = hub.wait_status(api, made["notebookId"], "failed", timeout=60)
    assert "exit" in failed["reason"] and "status 1" in failed["reason"], failed["reason"]
    assert "Python" in failed["reason"] or "encodings" in failed["reason"], failed["reason"]
    assert api.call("DELETE", f"/api/v1/notebook/{made['notebookId']}")[0] == 200


def test_a_lab_that_dies_shows_failed_with_its_exit_status(hub, alice, notebooks):
    owner, api = alice
    notebook_id = notebooks.create_running(hub, api, "dies", resources="")["notebookId"]
    os.kill(hub.lab_pid(owner, "dies"), signal.SIGKILL)
    failed = hub.wait_status(api, notebook_id, "failed", timeout=60)
    assert failed["reason"].startswith("The notebook server exited unexpectedly (exit status -9"), failed
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_a_stop_from_the_hub_is_stopped_not_failed(hub, alice, notebooks):
    owner, api = alice
    notebook_id = notebooks.create_running(hub, api, "stopped-by-hub", resources="")["notebookId"]
    assert hub.hub_api.delete(f"/users/{owner}/servers/stopped-by-hub").status_code in (202, 204)
    stopped = hub.wait_status(api, notebook_id, "stopped", timeout=60)
    assert stopped["reason"] == "The notebook instance is stopped"
    # removed from the hub (e.g. from the admin panel): the notebook is gone too
    assert hub.hub_api.delete(f"/users/{owner}/servers/stopped-by-hub", json={"remove": True}).status_code == 204
    wait_for(lambda: api.call("GET", f"/api/v1/notebook/{notebook_id}")[0] == 404, 30, what="the notebook to go")
