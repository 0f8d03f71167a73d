"""Prometheus metrics of the service (scraped at ``/metrics``)."""

from prometheus_client import Counter, Gauge, Histogram

NOTEBOOKS = Gauge("submarine_notebooks", "Notebooks by status (counted at each scrape)", ["status"])
CREATES = Counter("submarine_notebook_creates_total", "Notebooks created through the API")
STATUS_CHANGES = Counter(
    "submarine_notebook_status_changes_total", "Notebooks entering a status (failed: failures)", ["status"]
)
SPAWN_DURATION = Histogram(
    "submarine_notebook_spawn_duration_seconds",
    "From a create or start request to running",
    buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 300, 600, float("inf")),
)
LEADER = Gauge("submarine_controller_leader", "1 on the replica that runs the status passes and retries")
SYNC_PASS = Histogram(
    "submarine_sync_pass_seconds",
    "Duration of the status passes over the hub's servers",
    ["kind"],
    buckets=(0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, float("inf")),
)
