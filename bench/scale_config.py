"""``make bench-scale``'s hub: this project's jupyterhub_config.py, with stub servers (bench/stub.py)."""

from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub)
load_subconfig(str(Path(__file__).resolve().parent.parent / "jupyterhub_config.py"))  # noqa: F821

c.JupyterHub.spawner_class = "bench.stub.StubSpawner"
c.Spawner.poll_interval = 30  # JupyterHub's default: there is no process to watch
# the service reads this file too
for service in c.JupyterHub.services:
    if service["name"] == "submarine":
        service["command"][-1] = str(Path(__file__).resolve())
