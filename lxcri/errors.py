"""lxcri's exception hierarchy: one root, subclasses that also inherit the matching builtin.

Every error carries a message meant for a person (what is wrong, which id, path or
field, what to do), the errno when one applies, and the exit code the CLI uses.
Every class lives here, so that the isolation helper can send any of them across its
socket and raise the same class, with the same attributes, on the other side.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds on every CLI call
    from typing import Optional


class LxcriError(Exception):
    """Root of every error lxcri raises."""

    exit_code = 1
    # True when the message already reached stderr (a runtime binary printed it, for
    # instance): the CLI then only writes it to --log, so stderr keeps one line.
    shown = False

    def __init__(self, message: str, *, errno: Optional[int] = None,
                 container_id: Optional[str] = None) -> None:
        Exception.__init__(self, message)
        self.message = message
        self.errno = errno
        self.container_id = container_id

    def __str__(self) -> str:
        return self.message


class ContainerNotFound(LxcriError, LookupError):
    """No container with that id exists under the runtime's root."""


_ENOENT = 2  # errno.ENOENT on Linux


def not_found(id: str, root: str) -> ContainerNotFound:
    """The one wording of "no container `id` under `root`", whichever backend looked."""
    return ContainerNotFound(f"container `{id}` does not exist under {root}: `lxcri list` shows "
                             "the containers there", errno=_ENOENT, container_id=id)


class ContainerExists(LxcriError, FileExistsError):
    """A container with that id exists already."""

    def __init__(self, message: str, **kw: object) -> None:
        LxcriError.__init__(self, message, **kw)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.message


class InvalidArgument(LxcriError, ValueError):
    """An argument is malformed: container id, signal, option value."""


class InvalidBundle(InvalidArgument):
    """The bundle, its config.json or its rootfs cannot be used."""


class InvalidConfig(InvalidBundle):
    """libcrun refused the bundle's config.json itself (as opposed to what it asks for)."""


class ContainerStateError(LxcriError):
    """The container is not in a state that allows the operation."""


class StateCorrupt(LxcriError):
    """A container's state files (the backend's or lxcri's own record) cannot be read;
    `delete --force` still removes the container."""


class CgroupError(LxcriError):
    """The host's cgroup setup keeps libcrun from working."""


class HookFailed(LxcriError):
    """An OCI hook of the container failed (exit status, signal, timeout, not runnable)."""


class ResourceExhausted(LxcriError):
    """The runtime hit a limit of the host or of the container's own rlimits: open
    files, disk space, memory."""


class BackendUnavailable(LxcriError):
    """The backend cannot be used on this host (missing library or binary)."""


class ConfigFileError(LxcriError, ValueError):
    """lxcri.toml cannot be used: syntax, unknown keys, bad values."""


class HelperError(LxcriError):
    """The library's helper process failed or went away."""


# Proxmox says this when a VMID has no config (the CT was removed, or never made).
_PROXMOX_MISSING_MARKS = ("does not exist", "no such container", "not found")


class ProxmoxError(LxcriError):
    """Proxmox refused or failed an operation; the message is Proxmox's own."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        LxcriError.__init__(self, message)
        self.missing = missing or any(m in message.lower() for m in _PROXMOX_MISSING_MARKS)
