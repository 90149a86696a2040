"""Backends: the registry of every way lxcri runs a container, and the state-root layout.

The registry (BACKENDS) is the one place that names the backends: `--runtime`'s
choices, the `lxcri.runtime` annotation, lxcri.toml's `default_runtime`, its
`[runtimes.NAME]` tables and their keys, `lxcri info` and `lxcri list` all read it.
As with pip's `commands_dict`, an entry holds only names: importing this module
imports no backend, and `Backend.load()` imports the one the CLI needs.

    crun  embedded libcrun (lxcri.backends.crun), the default
    runc  the runc binary (lxcri.backends.runc)
    lxc   LXC system containers: liblxc, or Proxmox CTs on a PVE node (lxcri.backends.lxc)
    vm    a container inside a QEMU microvm (lxcri.backends.vm)

Adding a backend is one entry here plus its own module or package.

Every backend but the embedded crun keeps its state in a directory of its own
under lxcri's state root, `<root>/.lxcri/<name>`; libcrun's own list skips
entries whose name starts with a dot, and container ids may not start with one.
"""
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

    # A [runtimes.NAME] table's keys: key -> type, a tuple of allowed strings, or a
    # dict for a sub-table (lxcri.config checks a file against it).
    Schema = Dict[str, Any]


class Backend:
    """One registry entry: where a backend lives and what lxcri needs to know of it unloaded."""

    __slots__ = ("name", "module", "factory", "options", "own_root", "check_before_create",
                 "availability")

    def __init__(self, name: str, module: str, factory: str, options: "Schema", *,
                 own_root: bool = True, check_before_create: bool = False,
                 availability: str = "availability") -> None:
        self.name = name
        self.module = module  # imported only by load() and check()
        # The callable in `module` that makes a Backend (lxcri.backends.base) from
        # (root=..., debug=..., ..., options=...): its class, or a function that picks one.
        self.factory = factory
        self.options = options  # the keys [runtimes.NAME] in lxcri.toml accepts
        # State under <root>/.lxcri/NAME; False: in the root itself (crun's layout).
        self.own_root = own_root
        # Ask availability() before claiming an id for create/run, so that an unusable
        # backend fails with its reason and leaves no record behind.
        self.check_before_create = check_before_create
        self.availability = availability  # a function of `module`: (options) -> (ok, why)

    def _module(self) -> "Any":
        # __import__ rather than importlib.import_module: importlib is not loaded at
        # start-up, and the CLI pays for every import.
        __import__(self.module)
        return sys.modules[self.module]

    def load(self) -> "Callable[..., Any]":
        """The backend's factory (imports its module)."""
        return getattr(self._module(), self.factory)  # type: ignore[no-any-return]

    def check(self, options: "Optional[Dict[str, Any]]" = None) -> "Tuple[bool, str]":
        """(True, what serves it) or (False, why not and the fix); never raises."""
        try:
            check = getattr(self._module(), self.availability)
            ok, why = check(dict(options or {}))
            return bool(ok), str(why)
        except Exception as exc:  # info must always answer
            return False, f"{type(exc).__name__}: {exc}"

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.module}:{self.factory})"


# [runtimes.lxc.proxmox]: how the lxc backend reaches a Proxmox VE cluster.
_PROXMOX_OPTIONS: "Schema" = {
    "endpoint": str, "node": str, "storage": str, "template_storage": str, "token_id": str,
    "token_secret": str, "token_secret_file": str, "verify_ssl": bool, "network": str,
    "unprivileged": bool, "rootfs_size": int, "task_timeout": int, "pct": str, "pve_dir": str,
}

# In the order `lxcri info` lists them; the first is the default.
BACKENDS: "Dict[str, Backend]" = {b.name: b for b in (
    # path: the crun binary used when the embedded one cannot load.
    Backend("crun", "lxcri.backends.crun", "open_backend", {"path": str}, own_root=False),
    Backend("runc", "lxcri.backends.runc", "RuncBackend", {"path": str}),
    Backend("lxc", "lxcri.backends.lxc", "LxcBackend",
            {"driver": ("auto", "liblxc", "proxmox"), "proxmox": _PROXMOX_OPTIONS},
            check_before_create=True),
    Backend("vm", "lxcri.backends.vm", "VmBackend",
            {"qemu": str, "guest_dir": str, "accel": ("auto", "kvm", "tcg"), "memory": int,
             "boot_timeout": int, "exec_slots": int}, check_before_create=True),
)}


class RuntimeType:
    """The names of the backends, as written after --runtime, in lxcri.runtime and in lxcri.toml."""

    CRUN = "crun"
    RUNC = "runc"
    LXC = "lxc"
    VM = "vm"
    ALL = tuple(BACKENDS)


# lxcri's own files under a state root: ownership records, other backends' roots.
PRIVATE_DIR = ".lxcri"


def backend_root(root: str, name: str) -> str:
    """Where backend `name` keeps its state under lxcri's state root `root`."""
    from lxcri import posixos  # here, not at the top: lxcri.quick reads this registry

    return posixos.join(root, PRIVATE_DIR, name)


# The backends whose state layout and cgroups lxcri knows (libcrun's and runc's).
OCI_BACKENDS = (RuntimeType.CRUN, RuntimeType.RUNC)


def state_dir(root: str, runtime: str, id: str) -> "Optional[str]":
    """Where backend `runtime` keeps the state of container `id` (None: not an OCI backend)."""
    from lxcri import posixos

    if runtime == RuntimeType.CRUN:
        return posixos.join(root, id)
    if runtime == RuntimeType.RUNC:
        return posixos.join(backend_root(root, runtime), id)
    return None
