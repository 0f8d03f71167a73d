"""What both Submarine spawners do around a start: admission, and reports of how it ends.

``apply_user_options`` (run by the hub before every start, whichever door it came through)
sends the client's ``user_options`` to the Submarine service's admission and applies exactly
the :class:`AdmittedSpec` it answers (``apply_admitted``); a refusal fails the start with the
service's 4xx and message, before anything is made. The spawner also tells the service how
its server ends (stopped, failed, removed) as it happens, and remembers, in the spawner state
the hub persists, how a server ended when nobody asked it to stop, so a crash is told from a
stop.
"""

import asyncio
from datetime import datetime, timezone

from jupyterhub.spawner import Spawner
from tornado import web
from tornado.escape import url_escape
from traitlets import Dict, Instance, Integer, default

from .contract import AdmittedSpec
from .form import options_form, options_from_form
from .policy import SubmarinePolicy
from .resources import Resources, parse_resources
from .service import SubmarineServiceClient


async def _apply_submarine_options(spawner, user_options):
    """The default ``Spawner.apply_user_options`` of the Submarine spawners."""
    await spawner.apply_submarine_options(user_options)


class SubmarineSpawnerMixin(Spawner):
    """Mix in before a concrete JupyterHub ``Spawner`` class (LocalProcessSpawner, KubeSpawner)."""

    policy = Instance(SubmarinePolicy, help="The hub's policy for notebooks (c.SubmarinePolicy).")

    @default("policy")
    def _default_policy(self):
        return SubmarinePolicy(parent=self)

    service = Instance(SubmarineServiceClient, help="The Submarine service (c.SubmarineServiceClient).")

    @default("service")
    def _default_service(self):
        return SubmarineServiceClient(parent=self)

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return _apply_submarine_options

    @default("options_form")
    def _default_options_form(self):
        return options_form

    @default("options_from_form")
    def _default_options_from_form(self):
        return options_from_form

    lab_auth_cache_max_age = Integer(
        30,
        help="Seconds a notebook's server trusts the hub's answer on a token or login (its "
        "HubOAuth.cache_max_age; JupyterHub's default is 300): how soon a revoked token or share loses access.",
    ).tag(config=True)

    notebook = Instance(
        AdmittedSpec,
        allow_none=True,
        help="The admitted spec of the current start, if it runs an environment; None for a plain server.",
    )

    last_exit = Dict(
        allow_none=True,
        help="How the server last ended on its own: {'status', 'message', 'time'}.",
    )

    _stop_requested = False
    _start_failed = False
    _starts = 0  # admissions asked for by this spawner object: a report concerns one of them
    # kept in the hub's spawner state, so a hub that restarts still reports
    _started = False  # the current start succeeded
    _admitted = False  # the service admitted the current start

    async def apply_submarine_options(self, user_options):
        """Ask the service to admit this start, then apply what it admitted."""
        self.notebook = None
        self._admitted = False
        self._starts += 1
        admitted = await self.service.admit(self, user_options)
        self._admitted = True
        # the hub keeps the admitted request: its home page shows it, a start without options sends it again
        self.user_options = self.orm_spawner.user_options = admitted.user_options() or self.user_options
        self.log.info(
            "Starting %s as admitted: %s",
            self._log_name,
            f"notebook {admitted.notebookId}, environment {admitted.environment.name}, "
            f"resources {admitted.resources or 'default'}"
            if admitted.environment
            else "a plain server",
        )
        self.apply_admitted(admitted)

    def apply_admitted(self, admitted: AdmittedSpec):
        """Set the spawner from an admitted spec (the concrete spawner adds what it runs)."""
        self.notebook = admitted if admitted.environment else None
        # checked by the service's ResourcePolicy: read every resource it admitted
        resources = parse_resources(self.notebook.resources, extended_allowed=None) if self.notebook else Resources()
        self.apply_resources(resources)

    #: the traits a notebook's options set; their configured values are kept at creation
    notebook_traits: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # before load_state or any start can change them
        self._configured_values = {name: getattr(self, name) for name in self.notebook_traits}

    def configured(self, name):
        """The value config gave a trait, whatever a notebook's options set since."""
        return self._configured_values[name]

    def apply_resources(self, resources: Resources):
        """Set the spawner's resource traits; the concrete spawner decides how."""
        raise NotImplementedError

    def get_args(self):
        return [*super().get_args(), f"--HubOAuth.cache_max_age={self.lab_auth_cache_max_age}"]

    def get_env(self):
        env = super().get_env()
        if self.notebook:
            env.update(self.notebook.envVars)
            env["SUBMARINE_NOTEBOOK_ID"] = self.notebook.notebookId or ""
        return env

    async def submarine_notebooks(self) -> dict[str, dict]:
        """The owner's notebooks as the service shows them, by server name (for the home page;
        nothing when the service does not answer)."""
        try:
            listed = await self.service.call(
                self.user.settings, "GET", f"notebook?id={url_escape(self.user.name)}&limit=1000"
            )
        except web.HTTPError:
            return {}
        return {notebook["url"].rstrip("/").split("/")[-2]: notebook for notebook in listed}

    # --- reports, and telling a crash from a stop ----------------------------------------

    def _report(self, event: str, message: str | None = None):
        """Tell the service about a named server, without holding up the hub (retried while the
        service does not answer; its full pass catches up if this is lost). Removals always:
        they end a notebook whatever this process saw."""
        if not (self.name and (self._admitted or event == "removed")):
            return
        activity = self.orm_spawner.last_activity if self.orm_spawner else None
        body = {
            "owner": self.user.name,
            "server": self.name,
            "event": event,
            "message": message,
            # a late retry must not end a notebook of the same name made since
            "notebookId": self.notebook.notebookId if self.notebook else None,
            # the hub's, naive UTC: so the service tells the idle culler's stops apart
            "lastActivity": activity.replace(tzinfo=timezone.utc).isoformat() if activity else None,
        }
        starts = self._starts
        asyncio.ensure_future(self.service.report(self, body, current=lambda: self._starts == starts))

    async def describe_exit(self, status) -> str:
        """A line on why the server ended; spawners add what they know (a log tail)."""
        return f"exit status {status}"

    async def start(self):
        self.last_exit = None
        self._stop_requested = self._started = self._start_failed = False
        try:
            started = await super().start()
        except Exception as e:
            self._start_failed = True
            self._report("failed", f"Spawn failed: {e}")
            raise
        self._started = True
        return started

    async def stop(self, now=False):
        report = not self._stop_requested and self.last_exit is None
        self._stop_requested = True
        stopped = await super().stop(now=now)
        if report and self._started:
            self._report("stopped")
        elif report and not self._start_failed:
            self._report("failed", "The notebook server was stopped before it had started")
        self._ended()
        return stopped

    async def poll(self):
        status = await super().poll()
        if status is not None and not self._stop_requested and self.last_exit is None:
            self.last_exit = {
                "status": status,
                "message": await self.describe_exit(status),
                "time": datetime.now(timezone.utc).isoformat(),
            }
            if self._started:
                self._report("failed", f"The notebook server exited unexpectedly ({self.last_exit['message']})")
            self._ended()
        return status

    def _ended(self):
        """The current start is over, and reported."""
        self._admitted = self._started = False

    def delete_forever(self):
        """The server is removed from the hub: so is the notebook."""
        self._report("removed")
        return super().delete_forever()

    def get_state(self):
        state = super().get_state()
        if self.last_exit:
            state["last_exit"] = self.last_exit
        state["submarine"] = {"admitted": self._admitted, "started": self._started}
        return state

    def load_state(self, state):
        super().load_state(state)
        self.last_exit = state.get("last_exit")
        ours = state.get("submarine") or {}
        self._admitted, self._started = ours.get("admitted", False), ours.get("started", False)

    def clear_state(self):
        """Keep ``last_exit`` (the hub clears state right after a server ends), and what the
        current start is: LocalProcessSpawner's poll clears state in the middle of a stop, before
        it is reported (``stop`` and ``poll`` end it after their reports; a start begins anew)."""
        last_exit = self.last_exit
        super().clear_state()
        self.last_exit = last_exit
