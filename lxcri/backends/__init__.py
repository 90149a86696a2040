"""Backends: one module per way of running a container (see base.Backend).

Only plain constants live here, so that importing a backend stays cheap: the CLI
loads just the backend that owns the container it works on.

    crun  embedded libcrun (lxcri.backends.crun), the default
    runc  the runc binary (lxcri.backends.runc)
    lxc   LXC system containers: liblxc, or Proxmox CTs on a PVE node (lxcri.backends.lxc)
    vm    a container inside a VM (lxcri.backends.vm; not implemented yet)

Every backend but the embedded crun keeps its state in a directory of its own
under lxcri's state root, `<root>/.lxcri/<name>`; libcrun's own list skips
entries whose name starts with a dot, and container ids may not start with one.
"""
import os


class RuntimeType:
    """The names of the backends, as written after --runtime, in lxcri.runtime and in lxcri.toml."""

    CRUN = "crun"
    RUNC = "runc"
    LXC = "lxc"
    VM = "vm"
    ALL = (CRUN, RUNC, LXC, VM)


# lxcri's own files under a state root: ownership records, other backends' roots.
PRIVATE_DIR = ".lxcri"


def backend_root(root: str, name: str) -> str:
    """Where backend `name` keeps its state under lxcri's state root `root`."""
    return os.path.join(root, PRIVATE_DIR, name)
