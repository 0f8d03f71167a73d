"""JupyterHub with the Submarine Notebook API: the embedded default.

Everything listens on 127.0.0.1 only; state lives in the data directory.
The environment variables below are the knobs of this file (README: Configuration);
any trait can also be set here directly. The Submarine service loads this same
file, so ``c.SubmarineService.*`` and ``c.ResourcePolicy.*`` reach it too.
"""

import os
import secrets
import sys
from pathlib import Path

from jupyterhub.log import log_request as jupyterhub_log_request
from jupyterhub.log import prometheus_log_method

from submarine_spawner.form import TEMPLATE_DIR

c = get_config()  # noqa: F821 (provided by JupyterHub)

HERE = Path(__file__).resolve().parent
env = os.environ.get

data_dir = Path(env("SUBMARINE_DATA_DIR", HERE / "data")).resolve()
# Notebooks run as other OS users when the hub is root: they may pass through the data
# directory to their own workspaces (0711), and read nothing else in it. Everything the hub
# and the service make is theirs alone (umask), the secrets and databases made before too.
os.umask(0o077)
data_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
data_dir.chmod(0o711)
for made in data_dir.iterdir():
    if made.is_file():
        made.chmod(made.stat().st_mode & 0o700)


def secret_file(name: str, variable: str, nbytes: int = 24) -> str:
    """A secret from the environment, else kept in the data directory (made once)."""
    if env(variable):
        return env(variable)
    path = data_dir / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(nbytes) + "\n")
    return path.read_text().strip()


port = int(env("SUBMARINE_PORT", "8000"))
hub_port = int(env("SUBMARINE_HUB_PORT", "8081"))
proxy_api_port = int(env("SUBMARINE_PROXY_API_PORT", "8001"))
service_port = int(env("SUBMARINE_SERVICE_PORT", "32080"))

# --- the hub and its proxy ---------------------------------------------------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = str(data_dir / "jupyterhub-proxy.pid")
local_proxy = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
if local_proxy.exists():
    c.ConfigurableHTTPProxy.command = [str(local_proxy)]
c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")
# stopping the hub stops the notebooks, unless SUBMARINE_KEEP_SERVERS=1
c.JupyterHub.cleanup_servers = env("SUBMARINE_KEEP_SERVERS", "") not in ("1", "true", "yes")


def log_request(handler):
    """The hub's request log, without the service's status sync (a user list every few seconds)."""
    request = handler.request
    if (
        handler.get_status() == 200
        and request.method == "GET"
        and request.path.endswith("/api/users")
        and getattr(handler.current_user, "kind", None) == "service"
        and handler.current_user.name == "submarine"
    ):
        prometheus_log_method(handler)
        return
    jupyterhub_log_request(handler)


c.JupyterHub.tornado_settings = {"log_function": log_request}

# --- who logs in -------------------------------------------------------------------------
# 'admin' logs in with data/admin-password; anyone else with data/user-password.
c.JupyterHub.authenticator_class = "shared-password"
c.Authenticator.admin_users = {"admin"}
c.Authenticator.allow_all = True
c.SharedPasswordAuthenticator.admin_password = secret_file("admin-password", "SUBMARINE_ADMIN_PASSWORD")
c.SharedPasswordAuthenticator.user_password = secret_file("user-password", "SUBMARINE_USER_PASSWORD", 12)
# an API token of the admin user, for scripts and the benchmark
c.JupyterHub.api_tokens = {secret_file("admin-token", "SUBMARINE_ADMIN_TOKEN", 32): "admin"}

# --- notebooks: one named server each -------------------------------------------------------
c.JupyterHub.allow_named_servers = True
c.JupyterHub.spawner_class = "submarine_spawner.SubmarineLocalSpawner"
c.SubmarinePolicy.data_dir = str(data_dir)
c.Spawner.poll_interval = 5  # local processes are cheap to poll: crashes show within seconds
c.Spawner.start_timeout = 600  # a start may build its environment first (pip, conda)
c.Spawner.http_timeout = 120
# one machine: no notebook asks for more than it has, and it has no GPUs to give
c.ResourcePolicy.max_cpu = float(os.cpu_count() or 1)
c.ResourcePolicy.max_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
c.ResourcePolicy.max_extended = {"nvidia.com/gpu": 0}

# pipDependencies may be 'name @ URL' (service and spawners) only with SUBMARINE_ALLOW_PIP_URLS=1
c.KernelSpecPolicy.allow_pip_urls = env("SUBMARINE_ALLOW_PIP_URLS", "") in ("1", "true", "yes")

# --- the Submarine service ----------------------------------------------------------------
c.SubmarineService.db_url = env("SUBMARINE_DB_URL", f"sqlite:///{data_dir / 'submarine.sqlite'}")
c.SubmarineService.sync_interval = float(env("SUBMARINE_SYNC_INTERVAL", "2"))
c.SubmarineService.proxy_url = f"http://127.0.0.1:{port}"
c.JupyterHub.services = [
    {
        "name": "submarine",
        "url": f"http://127.0.0.1:{service_port}",
        "command": [sys.executable, "-m", "hub_service", "--config", str(Path(__file__).resolve())],
        # a token of its own, so further replicas of the service can share it
        "api_token": secret_file("service-token", "SUBMARINE_SERVICE_TOKEN", 32),
        # the service re-reads this file: give it the same knobs
        "environment": {k: v for k, v in os.environ.items() if k.startswith("SUBMARINE_")}
        | {"SUBMARINE_DATA_DIR": str(data_dir)},
        "oauth_no_confirm": True,
        # browsers' OAuth tokens carry these where the user has them: admins see all
        "oauth_client_allowed_scopes": ["admin:servers", "custom:submarine:environments"],
    }
]
c.JupyterHub.custom_scopes = {
    "custom:submarine:environments": {
        "description": "Create, change and delete Submarine notebook environments.",
    },
    "custom:submarine:admission": {
        "description": "Ask the Submarine service to admit server starts, and report how servers end "
        "(the hub's spawners only).",
    },
}
c.JupyterHub.load_roles = [
    {
        "name": "submarine-service",
        "description": "The Submarine service: users and named servers on their behalf.",
        # the last ones: ask notebooks whether their kernels are busy, and share notebooks
        "scopes": [
            "admin:users",
            "admin:servers",
            "admin:server_state",
            "list:users",
            "read:users",
            "access:servers",
            "shares",
            "read:shares",
            "read:groups",
        ],
        "services": ["submarine"],
    },
    {
        "name": "submarine-environment-admins",
        "description": "Change the environment catalogue without being a hub admin.",
        "scopes": ["custom:submarine:environments"],
        "groups": ["environment-admins"],
    },
]
# every user may call the API (and only sees their own notebooks there)
c.JupyterHub.extra_user_scopes = ["access:services!service=submarine"]

# --- the spawners' token: admission of every start, reports, the spawn form's environments --
c.JupyterHub.services.append(
    {
        "name": "submarine-spawner",
        "api_token": secret_file("spawner-token", "SUBMARINE_SPAWNER_TOKEN", 32),
    }
)
c.JupyterHub.load_roles.append(
    {
        "name": "submarine-spawner",
        "description": "The hub's spawners: ask the Submarine service to admit starts, report how servers end, "
        "list environments for the spawn form; nothing else.",
        "scopes": ["access:services!service=submarine", "custom:submarine:admission"],
        "services": ["submarine-spawner"],
    }
)

# --- the home page: what each notebook runs beside its name ---------------------------------
c.JupyterHub.template_paths = [TEMPLATE_DIR]
# after logging in, the home page (the notebooks), not the spawn form of the default server
c.JupyterHub.redirect_to_server = False

# --- idle culling: SUBMARINE_CULL_IDLE_TIMEOUT=<seconds> -----------------------------------
# jupyterhub-idle-culler stops (never removes) notebooks idle this long; they say so in the
# API and can be started again.
cull_idle_timeout = int(env("SUBMARINE_CULL_IDLE_TIMEOUT", "0"))
if cull_idle_timeout:
    c.JupyterHub.services.append(
        {
            "name": "idle-culler",
            "command": [
                sys.executable,
                "-m",
                "jupyterhub_idle_culler",
                f"--timeout={cull_idle_timeout}",
                f"--cull-every={max(1, min(300, cull_idle_timeout // 2))}",
            ],
        }
    )
    c.JupyterHub.load_roles.append(
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        }
    )
    c.SubmarineService.cull_idle_timeout = cull_idle_timeout

# --- Kubernetes: SUBMARINE_SPAWNER=kubernetes ---------------------------------------------
# Notebooks become pods (SubmarineKubeSpawner) and outlive hub restarts. The hub runs in a pod
# (or wherever a kubeconfig reaches the cluster): everything listens on all interfaces, and
# pods reach the hub, as the proxy reaches the service, through the hub's Kubernetes Service
# (SUBMARINE_HUB_HOST). Notebooks run in SUBMARINE_NAMESPACE (default: the hub's own) or one
# of SUBMARINE_ALLOWED_NAMESPACES (comma-separated). deploy/README.md: Zero to JupyterHub.
if env("SUBMARINE_SPAWNER", "local") == "kubernetes":
    hub_host = env("SUBMARINE_HUB_HOST", "hub")
    own_namespace = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    namespace = env("SUBMARINE_NAMESPACE") or (
        own_namespace.read_text().strip() if own_namespace.exists() else "default"
    )
    namespaces = [name.strip() for name in env("SUBMARINE_ALLOWED_NAMESPACES", namespace).split(",")]
    c.JupyterHub.spawner_class = "submarine_spawner.SubmarineKubeSpawner"
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.bind_url = f"http://0.0.0.0:{port}"
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{hub_port}"
    c.JupyterHub.hub_connect_url = f"http://{hub_host}:{hub_port}"
    c.JupyterHub.services[0]["url"] = f"http://{hub_host}:{service_port}"
    c.SubmarineService.bind_url = f"http://0.0.0.0:{service_port}"
    c.SubmarineService.proxy_url = env("SUBMARINE_PROXY_URL", "http://proxy-public")
    # the service admits a namespace of the list; the spawner runs pods where it admitted
    c.KubeSpawner.namespace = namespace
    c.SubmarinePolicy.default_namespace = namespace
    c.SubmarinePolicy.allowed_namespaces = namespaces
    c.Spawner.start_timeout = 900  # image pulls and kernelSpec installs take minutes
    # the cluster's nodes and quotas say what fits, not the hub's machine
    c.ResourcePolicy.max_cpu = 0
    c.ResourcePolicy.max_memory = 0
    c.ResourcePolicy.max_extended = {}

# --- site settings: SUBMARINE_EXTRA_CONFIG=<file> --------------------------------------------
# a config file of your own, loaded last (by the hub and the service alike), e.g.
#   c.OwnerQuota.max_notebooks = 5
if env("SUBMARINE_EXTRA_CONFIG"):
    load_subconfig(env("SUBMARINE_EXTRA_CONFIG"))  # noqa: F821 (provided by traitlets)
