"""What both Submarine spawners do with a notebook's ``user_options``.

``apply_user_options`` (run by the hub before every start) validates the seam
model and hands the parsed resources to the concrete spawner; ``get_env`` adds
the notebook's ``envVars``. The mixin also remembers, in the spawner state the
hub persists, how a server ended when nobody asked it to stop, so the service
can tell a crash from a stop.
"""

from datetime import datetime, timezone

from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Dict, Instance, default

from .form import SubmarineSpawnForm
from .kernelspec import KernelSpecPolicy
from .options import NotebookOptions, parse_options
from .resources import ResourcePolicy, Resources


def _apply_submarine_options(spawner, user_options):
    """The default ``Spawner.apply_user_options`` of the Submarine spawners."""
    return spawner.apply_submarine_options(user_options)


class SubmarineSpawnerMixin(Spawner):
    """Mix in before a concrete JupyterHub ``Spawner`` class (LocalProcessSpawner, KubeSpawner)."""

    resource_policy = Instance(ResourcePolicy)

    @default("resource_policy")
    def _default_resource_policy(self):
        return ResourcePolicy(parent=self)

    kernel_spec_policy = Instance(KernelSpecPolicy)

    @default("kernel_spec_policy")
    def _default_kernel_spec_policy(self):
        return KernelSpecPolicy(parent=self)

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return _apply_submarine_options

    spawn_form = Instance(SubmarineSpawnForm, help="The home page's spawn form (c.SubmarineSpawnForm).")

    @default("spawn_form")
    def _default_spawn_form(self):
        return SubmarineSpawnForm(parent=self)

    @default("options_form")
    def _default_options_form(self):
        return self.spawn_form.render

    @default("options_from_form")
    def _default_options_from_form(self):
        return self.spawn_form.user_options

    def default_namespace(self) -> str:
        """The namespace of a notebook from the spawn form: the configured one of a spawner
        with namespaces (KubeSpawner), else "default"."""
        return self.configured("namespace") if "namespace" in self.notebook_traits else "default"

    notebook = Instance(
        NotebookOptions, allow_none=True,
        help="The validated user_options of the current start; None for a plain server.",
    )

    last_exit = Dict(
        allow_none=True,
        help="How the server last ended on its own: {'status', 'message', 'time'}.",
    )

    _stop_requested = False

    def apply_submarine_options(self, user_options):
        """Validate the seam model and apply it; a bad option fails the start with 400."""
        if not user_options:
            self.notebook = None
            self.apply_resources(Resources())
            return
        try:
            self.notebook = parse_options(user_options, self.resource_policy,
                                          kernel_policy=self.kernel_spec_policy)
        except ValueError as e:
            raise web.HTTPError(400, str(e)) from None
        self.apply_resources(self.resource_policy.parse(self.notebook.resources))

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

    def get_env(self):
        env = super().get_env()
        if self.notebook:
            env.update(self.notebook.envVars)
            env["SUBMARINE_NOTEBOOK_ID"] = self.notebook.notebookId
        return env

    # --- telling a crash from a stop -------------------------------------------------

    def describe_exit(self, status) -> str:
        """A line on why the server ended; spawners add what they know (a log tail)."""
        return f"exit status {status}"

    async def start(self):
        self.last_exit = None
        self._stop_requested = False
        return await super().start()

    async def stop(self, now=False):
        self._stop_requested = True
        return await super().stop(now=now)

    async def poll(self):
        status = await super().poll()
        if status is not None and not self._stop_requested and self.last_exit is None:
            self.last_exit = {
                "status": status,
                "message": self.describe_exit(status),
                "time": datetime.now(timezone.utc).isoformat(),
            }
        return status

    def get_state(self):
        state = super().get_state()
        if self.last_exit:
            state["last_exit"] = self.last_exit
        return state

    def load_state(self, state):
        super().load_state(state)
        self.last_exit = state.get("last_exit")

    def clear_state(self):
        """Keep ``last_exit``: the hub clears state right after a server ends."""
        last_exit = self.last_exit
        super().clear_state()
        self.last_exit = last_exit
