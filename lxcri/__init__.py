"""lxcri: an OCI container runtime for Proxmox VE hosts, embedding libcrun.

    import lxcri
    rt = lxcri.Runtime(root="/run/lxcri")
    code = rt.run("hello", "/path/to/bundle")

Importing lxcri is cheap and has no side effects: the libcrun binding is loaded
only when a container operation needs it, and loading it never re-executes the
interpreter (see lxcri.sealed).
"""
# __version__ (lxcri._version) and the error classes (lxcri.errors) are imported on
# first use: the quick way of `lxcri state` needs neither, and every module costs a
# command here. Type checkers see them as imported here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxcri._version import __version__
    from lxcri.errors import (
        BackendUnavailable,
        CgroupError,
        ConfigFileError,
        ContainerExists,
        ContainerNotFound,
        ContainerStateError,
        HelperError,
        HookFailed,
        InvalidArgument,
        InvalidBundle,
        InvalidConfig,
        LxcriError,
        ProxmoxError,
        ResourceExhausted,
        StateCorrupt,
    )

__all__ = [
    "__version__", "Runtime", "State", "LxcriError", "ContainerNotFound", "ContainerExists",
    "InvalidArgument", "InvalidBundle", "InvalidConfig", "ContainerStateError", "CgroupError",
    "BackendUnavailable", "ConfigFileError", "HelperError", "ProxmoxError", "HookFailed",
    "ResourceExhausted", "StateCorrupt",
]


def __getattr__(name: str) -> object:
    # Runtime and State live in lxcri.runtime, the errors in lxcri.errors; each is
    # imported on first use only.
    if name == "__version__":
        from lxcri._version import __version__

        globals()[name] = __version__
        return __version__
    if name in ("Runtime", "State"):
        from lxcri import runtime

        return getattr(runtime, name)
    if name in __all__:
        from lxcri import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'lxcri' has no attribute {name!r}")
