"""The service application: configuration, wiring, and a clean start and stop.

Run by the hub as a managed service (it passes its own config file), so every
``c.SubmarineService.*`` and ``c.SubmarinePolicy.*`` (with ``c.ResourcePolicy.*`` and
``c.KernelSpecPolicy.*``) setting in ``jupyterhub_config.py`` reaches this process too.
"""

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from urllib.parse import urlparse

import aiohttp
from jupyterhub.httpclient import JupyterHubHTTPClient
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.log import enable_pretty_logging
from traitlets import Bool, CaselessStrEnum, Dict, Float, Integer, List, Unicode, default
from traitlets.config import Application

from submarine_spawner.policy import SubmarinePolicy

from .api import openapi
from .api.base import HomeHandler, NotFoundHandler
from .api.environments import EnvironmentHandler, EnvironmentListHandler
from .api.meta import MetricsHandler, OpenAPIHandler
from .api.notebooks import (
    NotebookEventsHandler,
    NotebookHandler,
    NotebookListHandler,
    NotebookLogsHandler,
    NotebookShareHandler,
    NotebookSharesHandler,
    NotebookStartHandler,
    NotebookStopHandler,
    PingHandler,
)
from .api.spawner import AdmissionHandler, ReportHandler
from .hub.client import HubClient
from .hub.controller import Controller
from .hub.culler import Culler
from .hub.leader import Leadership
from .hub.members import Members
from .hub.sync import StatusSync
from .logs import KubeLogs, LocalLogs
from .store import schema
from .usecases.admission import Admission
from .usecases.environments import Environments
from .usecases.notebooks import HOLD_MARGIN, Notebooks
from .usecases.quotas import OwnerQuota

log = logging.getLogger("hub_service")

SUBMARINE_KERNEL = {
    "name": "submarine_jupyter_py3",
    "channels": ["defaults"],
    "condaDependencies": [],
    "pipDependencies": [],
}


def _request_log(handler):
    """Like the hub: successful reads at debug, changes at info, errors louder."""
    status = handler.get_status()
    if status >= 500:
        level = logging.ERROR
    elif status >= 400:
        level = logging.WARNING
    elif handler.request.method in ("GET", "HEAD"):
        level = logging.DEBUG
    else:
        level = logging.INFO
    user = getattr(handler, "_hub_user", None) or {}
    logging.getLogger("tornado.access").log(
        level,
        "%d %s %s (%s@%s) %.2fms",
        status,
        handler.request.method,
        handler.request.path,
        user.get("name", ""),
        handler.request.remote_ip,
        1000 * handler.request.request_time(),
    )


@dataclass
class Parts:
    """What ``SubmarineService.wire`` makes."""

    leadership: Leadership
    controller: Controller
    sync: StatusSync
    members: Members
    environments: Environments
    notebooks: Notebooks
    culler: Culler
    admission: Admission


class SubmarineService(Application):
    name = "submarine-service"
    description = "The Apache Submarine Notebook REST API as a JupyterHub service."

    aliases = {"config": "SubmarineService.config_file", "log-level": "Application.log_level"}

    @default("log_level")
    def _default_log_level(self):
        # what an operator needs: admissions, corrections, removals (reads log at debug)
        return logging.INFO

    config_file = Unicode("", help="A config file to load, normally the hub's jupyterhub_config.py.").tag(config=True)

    bind_url = Unicode(
        help="Where to listen. Default: $JUPYTERHUB_SERVICE_URL (the service's url in the hub "
        "config), else http://127.0.0.1:32080."
    ).tag(config=True)

    @default("bind_url")
    def _default_bind_url(self):
        return os.environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:32080"

    service_prefix = Unicode(
        help="The path the proxy sends to this service. Default: $JUPYTERHUB_SERVICE_PREFIX."
    ).tag(config=True)

    @default("service_prefix")
    def _default_service_prefix(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/submarine/"

    hub_api_url = Unicode(help="The hub's REST API. Default: $JUPYTERHUB_API_URL.").tag(config=True)

    @default("hub_api_url")
    def _default_hub_api_url(self):
        return os.environ.get("JUPYTERHUB_API_URL") or "http://127.0.0.1:8081/hub/api"

    api_token = Unicode(help="The service's hub API token. Default: $JUPYTERHUB_API_TOKEN.").tag(config=True)

    @default("api_token")
    def _default_api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    base_url = Unicode(help="The hub's public base URL path. Default: $JUPYTERHUB_BASE_URL or /.").tag(config=True)

    @default("base_url")
    def _default_base_url(self):
        return os.environ.get("JUPYTERHUB_BASE_URL") or "/"

    db_url = Unicode(
        "sqlite:///submarine.sqlite",
        help="SQLAlchemy URL of the service's database: sqlite:///path (default) or "
        "postgresql://user@host/db for replicas and HA.",
    ).tag(config=True)

    sync_interval = Float(
        2.0,
        help="Seconds between quick passes (and retries of pending changes). Cheap: a quick "
        "pass reads only the servers of notebooks starting or stopping that nothing follows.",
    ).tag(config=True)

    full_sync_interval = Float(
        300.0,
        help="Seconds between full passes over every server the hub has, which catch what "
        "the spawners' reports missed (one is made when the service starts).",
    ).tag(config=True)

    request_timeout = Float(
        10.0,
        help="Seconds a request waits for the hub to take the change it asks for. Past it a "
        "create is called off (503), and a start, stop or delete is accepted (202) and carried "
        "out when the hub answers.",
    ).tag(config=True)

    hub_timeout = Float(30.0, help="Seconds the service waits for one answer of the hub's REST API.").tag(config=True)

    auth_cache_max_age = Integer(
        30,
        help="Seconds the hub's answer on a token is cached for reads (HubAuth.cache_max_age). "
        "Changes are always authorised by the hub at the time of the request.",
    ).tag(config=True)

    notebook_image = Unicode("apache/submarine:jupyter-notebook-0.8.0", help="Image of the seeded notebook-env.").tag(
        config=True
    )

    gpu_notebook_image = Unicode(
        "apache/submarine:jupyter-notebook-gpu-0.8.0", help="Image of the seeded notebook-gpu-env."
    ).tag(config=True)

    seed_environments = List(
        Dict(),
        help="Environments created with a new database. Default: notebook-env and "
        "notebook-gpu-env with notebook_image and gpu_notebook_image.",
    ).tag(config=True)

    @default("seed_environments")
    def _default_seed_environments(self):
        return [
            {
                "name": "notebook-env",
                "dockerImage": self.notebook_image,
                "kernelSpec": SUBMARINE_KERNEL,
                "description": None,
                "image": None,
            },
            {
                "name": "notebook-gpu-env",
                "dockerImage": self.gpu_notebook_image,
                "kernelSpec": SUBMARINE_KERNEL,
                "description": None,
                "image": None,
            },
        ]

    cull_idle_timeout = Float(
        0,
        help="The idle culler's timeout in seconds (0: no culler). A notebook stopped while idle "
        "this long says it was culled.",
    ).tag(config=True)

    logs_from = CaselessStrEnum(
        ["local", "kubernetes"],
        help="Where /logs reads a server's output: the local spawner's log files, or the pods' logs. Default: "
        "the pods' when the hub's spawner_class (in the same config) is a Kubernetes one.",
    ).tag(config=True)

    @default("logs_from")
    def _default_logs_from(self):
        spawner = str(self.config.JupyterHub.get("spawner_class", ""))
        return "kubernetes" if "kube" in spawner.lower() else "local"

    cull_interval = Float(
        60,
        help="Seconds between looks at running notebooks for their environment's idleTimeout and "
        "maxRuntime (and at busy kernels, which count as activity).",
    ).tag(config=True)

    proxy_url = Unicode(
        "http://127.0.0.1:8000",
        help="Where the service reaches notebooks through the hub's proxy (to see whether their kernels "
        "are busy). On Zero to JupyterHub: http://proxy-public.",
    ).tag(config=True)

    authenticate_prometheus = Bool(True, help="Whether /metrics needs an admin token or one with read:metrics.").tag(
        config=True
    )

    def initialize(self, argv=None):
        super().initialize(argv)
        if self.config_file:
            self.load_config_file(self.config_file)  # the command line still wins

    def start(self):
        enable_pretty_logging()
        logging.getLogger().setLevel(self.log_level)
        asyncio.run(self.serve())

    def make_app(self, notebooks, environments, admission) -> web.Application:
        prefixes = ["/", self.service_prefix]
        handlers = []
        for prefix in prefixes:
            api = url_path_join(prefix, "api/v1/")
            handlers += [
                (api + "notebook/ping", PingHandler),
                (api + "notebook/?", NotebookListHandler),
                (api + "notebook/([^/]+)", NotebookHandler),
                (api + "notebook/([^/]+)/stop", NotebookStopHandler),
                (api + "notebook/([^/]+)/start", NotebookStartHandler),
                (api + "notebook/([^/]+)/events", NotebookEventsHandler),
                (api + "notebook/([^/]+)/logs", NotebookLogsHandler),
                (api + "notebook/([^/]+)/shares", NotebookSharesHandler),
                (api + "notebook/([^/]+)/shares/([^/]+)/([^/]+)", NotebookShareHandler),
                (api + "environment/?", EnvironmentListHandler),
                (api + "environment/([^/]+)", EnvironmentHandler),
                (api + "openapi.json", OpenAPIHandler),
                (api + "spawner/admission", AdmissionHandler),
                (api + "spawner/report", ReportHandler),
                (url_path_join(prefix, "metrics"), MetricsHandler),
            ]
        handlers += [
            (url_path_join(self.service_prefix, "oauth_callback"), HubOAuthCallbackHandler),
            (r"/", HomeHandler),
            (self.service_prefix, HomeHandler),
        ]
        return web.Application(
            handlers,
            default_handler_class=NotFoundHandler,
            log_function=_request_log,
            notebooks=notebooks,
            environments=environments,
            admission=admission,
            api_prefix=url_path_join(self.service_prefix, "api/v1/"),
            openapi=openapi.document(),
            authenticate_prometheus=self.authenticate_prometheus,
            token_page=url_path_join(self.base_url, "hub/token"),
            cookie_secret=os.urandom(32),
        )

    def wire(self, database: schema.Database, hub: HubClient, policy: SubmarinePolicy) -> Parts:
        """The use-cases and loops on ``database`` and ``hub``, as this config sets them; nothing
        started."""
        leadership = Leadership(database, self.sync_interval)
        controller = Controller(database=database, hub=hub, leadership=leadership)
        sync = StatusSync(
            database=database,
            hub=hub,
            controller=controller,
            leadership=leadership,
            interval=self.sync_interval,
            full_interval=self.full_sync_interval,
            cull_idle_timeout=self.cull_idle_timeout,
        )
        controller.sync = sync
        members = Members(hub, self.auth_cache_max_age)
        environments = Environments(database=database, members=members, policy=policy)
        logs = LocalLogs(policy.data_dir) if self.logs_from == "local" else KubeLogs()
        notebooks = Notebooks(
            database=database,
            hub=hub,
            controller=controller,
            sync=sync,
            environments=environments,
            members=members,
            policy=policy,
            quota=OwnerQuota(parent=self),
            logs=logs,
            base_url=self.base_url,
            request_timeout=self.request_timeout,
        )
        sync.after_full_pass.append(notebooks.regrant_group_shares)
        culler = Culler(
            database=database,
            hub=hub,
            controller=controller,
            leadership=leadership,
            interval=self.cull_interval,
            proxy_url=self.proxy_url,
            base_url=self.base_url,
            token=self.api_token,
            hub_idle_timeout=self.cull_idle_timeout,
            hold=self.request_timeout + HOLD_MARGIN,
        )
        admission = Admission(notebooks=notebooks, hub=hub, sync=sync)
        return Parts(leadership, controller, sync, members, environments, notebooks, culler, admission)

    async def serve(self):
        policy = SubmarinePolicy(parent=self)
        await asyncio.to_thread(schema.upgrade, self.db_url, self.seed_environments)
        database = schema.Database(self.db_url)
        hub = HubClient(self.hub_api_url, self.api_token, timeout=self.hub_timeout)
        # HubAuth's token checks: no longer than any other call to the hub
        JupyterHubHTTPClient.instance(
            parent=self, session_options={"timeout": aiohttp.ClientTimeout(total=self.hub_timeout)}
        )
        # the singleton: the hub's own handlers (the OAuth callback) use HubOAuth.instance()
        HubOAuth.instance(
            parent=self, api_token=self.api_token, api_url=self.hub_api_url, cache_max_age=self.auth_cache_max_age
        )
        parts = self.wire(database, hub, policy)
        app = self.make_app(parts.notebooks, parts.environments, parts.admission)
        url = urlparse(self.bind_url)
        server = app.listen(url.port or 80, address=url.hostname or "", xheaders=True, max_body_size=1024 * 1024)
        parts.leadership.start()
        parts.sync.start()
        parts.culler.start()
        log.info(
            "Submarine notebook API at %s%s and %s",
            self.bind_url.rstrip("/"),
            "/api/v1/notebook",
            url_path_join(self.service_prefix, "api/v1/notebook"),
        )

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()
        log.info("Stopping the Submarine service")
        server.stop()
        await parts.sync.stop()
        await parts.culler.stop()
        await parts.controller.stop()
        await parts.leadership.stop()
        hub.close()
        database.close()
