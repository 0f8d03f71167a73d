"""The restricted Pod Security Standard, baseline included, as a check of a pod manifest.

https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the rules of Kubernetes'
Pod Security admission, k8s.io/pod-security-admission/policy). Where Kubernetes versions differ,
this is the strictest reading, so that a pod it passes is admitted by every version: no relaxation
for user-namespaced (``hostUsers: false``) or Windows pods, only the sysctls, SELinux types and
volume types every version allows.

``violations(pod)`` takes a manifest as the Kubernetes API receives it (camelCase keys).
"""

SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
}
VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t"}
PROFILE_TYPES = {"RuntimeDefault", "Localhost"}  # seccomp and AppArmor
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
CONTAINER_KINDS = ("containers", "initContainers", "ephemeralContainers")


def _security_context(where: str, context: dict) -> list:
    """What the pod and each container may not set in their securityContext."""
    found = []
    if context.get("runAsNonRoot") is False:
        found.append(f"{where}.runAsNonRoot is false")
    if context.get("runAsUser") == 0:
        found.append(f"{where}.runAsUser is 0 (root)")
    seccomp = (context.get("seccompProfile") or {}).get("type")
    if seccomp is not None and seccomp not in PROFILE_TYPES:
        found.append(f"{where}.seccompProfile.type is {seccomp!r}")
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in PROFILE_TYPES:
        found.append(f"{where}.appArmorProfile.type is {apparmor!r}")
    selinux = context.get("seLinuxOptions") or {}
    if (selinux.get("type") or "") not in SELINUX_TYPES:
        found.append(f"{where}.seLinuxOptions.type is {selinux['type']!r}")
    for field in ("user", "role"):
        if selinux.get(field):
            found.append(f"{where}.seLinuxOptions.{field} is set")
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        found.append(f"{where}.windowsOptions.hostProcess is true")
    return found


def _container(where: str, container: dict, pod_context: dict) -> list:
    context = container.get("securityContext") or {}
    found = _security_context(f"{where}.securityContext", context)
    if context.get("privileged"):
        found.append(f"{where} is privileged")
    if context.get("allowPrivilegeEscalation") is not False:
        found.append(f"{where}.securityContext.allowPrivilegeEscalation is not false")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        found.append(f"{where}.securityContext.capabilities.drop does not include ALL")
    added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        found.append(f"{where}.securityContext.capabilities.add has {', '.join(sorted(added))}")
    # unset in the container: the pod's value
    if context.get("runAsNonRoot") is None and pod_context.get("runAsNonRoot") is not True:
        found.append(f"{where}: neither it nor the pod sets runAsNonRoot true")
    if (
        context.get("seccompProfile") is None
        and (pod_context.get("seccompProfile") or {}).get("type") not in PROFILE_TYPES
    ):
        found.append(f"{where}: neither it nor the pod sets seccompProfile.type RuntimeDefault or Localhost")
    if context.get("procMount") not in (None, "Default"):
        found.append(f"{where}.securityContext.procMount is {context['procMount']!r}")
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            found.append(f"{where} uses hostPort {port['hostPort']}")
    lifecycle = container.get("lifecycle") or {}
    handlers = [(probe, container.get(probe)) for probe in PROBES]
    handlers += [(f"lifecycle.{hook}", lifecycle.get(hook)) for hook in ("postStart", "preStop")]
    for name, handler in handlers:
        for action in ("httpGet", "tcpSocket"):
            if ((handler or {}).get(action) or {}).get("host"):
                found.append(f"{where}.{name}.{action}.host is set")
    return found


def violations(pod: dict) -> list:
    """Each way ``pod`` breaks the restricted Pod Security Standard; empty if it meets it."""
    spec = pod["spec"]
    pod_context = spec.get("securityContext") or {}
    found = [f"spec.{field} is true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    found += _security_context("spec.securityContext", pod_context)
    found += [
        f"spec.securityContext.sysctls has unsafe {sysctl['name']}"
        for sysctl in pod_context.get("sysctls") or []
        if sysctl["name"] not in SAFE_SYSCTLS
    ]
    for volume in spec.get("volumes") or []:
        kinds = {kind for kind, source in volume.items() if source is not None} - {"name"}
        for kind in sorted(kinds - VOLUME_TYPES):
            found.append(f"volume {volume['name']} is of type {kind}")
    for key, value in ((pod.get("metadata") or {}).get("annotations") or {}).items():
        if (
            key.startswith(APPARMOR_ANNOTATION)
            and value
            and value != "runtime/default"
            and not value.startswith("localhost/")
        ):
            found.append(f"annotation {key} is {value!r}")
    for kind in CONTAINER_KINDS:
        for container in spec.get(kind) or []:
            found += _container(f"spec.{kind}[{container['name']}]", container, pod_context)
    return found
