"""The embedded crun backend's calls into libcrun in this very process, apart from
lxcri.backends.crun.backend so that a command whose libcrun calls all run in a zygote
(the CLI's create, run and exec) neither loads libcrun nor this code.

Importing it loads libcrun (lxcri.backends.crun.binding).
"""
from __future__ import annotations

import os
import sys

from lxcri.backends.crun import binding
from lxcri.backends.crun.backend import CrunBackend
from lxcri.errors import LxcriError, StateCorrupt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Dict, List, Optional

    from lxcri.backends.crun.zygote import Context, Operation


class _SavedProcessState:
    """Restores what libcrun leaves changed in the calling process (signal mask, cwd)."""

    def __init__(self, binding: ModuleType) -> None:
        self.ffi, self.lib = binding.ffi, binding.lib

    def __enter__(self) -> "_SavedProcessState":
        self.mask = self.ffi.new("sigset_t *")
        self.lib.lxcri_sigmask_save(self.mask)
        self.cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lib.lxcri_sigmask_restore(self.mask)
        try:
            os.fchdir(self.cwd)
        finally:
            os.close(self.cwd)


def libcrun_context(backend: CrunBackend, binding: ModuleType, ctx: Context,
                    keep: List[Any]) -> Any:
    """libcrun's libcrun_context_t for ctx, for a call in this process (keep holds
    the strings it borrows)."""
    ffi, lib = binding.ffi, binding.lib
    c = ffi.new("libcrun_context_t *")

    def cstr(value: Optional[str]) -> Any:
        return ffi.NULL if value is None else keep_bytes(keep, binding, value.encode())

    c.state_root = cstr(ctx.state_root)
    c.id = cstr(ctx.id)
    c.bundle = cstr(ctx.bundle)
    c.pid_file = cstr(ctx.pid_file)
    c.notify_socket = cstr(ctx.notify_socket)
    # libcrun's sd_notify() passes READY=1 on to $NOTIFY_SOCKET, not to this: keep the
    # two one (a change only in a process that calls for another socket than its own, a
    # Python fork of the helper, whose environment has none; launcher/zygote.c likewise).
    if os.environ.get("NOTIFY_SOCKET") != ctx.notify_socket:
        if ctx.notify_socket is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = ctx.notify_socket
    c.console_socket = cstr(ctx.console_socket)
    c.fifo_exec_wait_fd = -1  # a zeroed struct would mean stdin
    c.systemd_cgroup = ctx.systemd_cgroup
    c.force_no_cgroup = ctx.force_no_cgroup
    c.detach = ctx.detach
    c.preserve_fds = ctx.preserve_fds
    c.listen_fds = ctx.listen_fds
    c.no_pivot = ctx.no_pivot
    c.no_new_keyring = ctx.no_new_keyring
    if lib.LXCRI_HAS_CONTEXT_NO_SUBREAPER:  # 1.8.1; gone in 1.21, no libcrun reads it
        c.no_subreaper = ctx.no_subreaper
    c.handler_manager = binding.handler_manager()
    if backend._log is not None:
        if backend._log_handler is None:
            backend._log_handler = init_log(binding, backend._log, backend._log_format)
        c.output_handler, c.output_handler_arg = backend._log_handler
    keep.append(c)
    return c


def checked_call(backend: CrunBackend, binding: ModuleType, what: str, id: Optional[str],
                 fn: Callable[[Any], int]) -> int:
    """Call libcrun (fn gets the error struct), with the process state it changes
    saved and restored, and its error raised as lxcri's: StateCorrupt when the
    container's state files are the cause."""
    err = binding.ffi.new("libcrun_error_t *")
    with _SavedProcessState(binding), binding.LibcrunCall() as call:
        ret = fn(err)
    try:
        return int(binding.check(ret, err, what, id, call=call, root=backend.root))
    except LxcriError:
        problem = state_problem(backend, id) if id is not None else None
        if problem is None:
            raise
        raise StateCorrupt(f"{what}: {problem}; `lxcri delete --force {id}` kills its "
                           "processes and removes it", container_id=id) from None

# What libcrun's status reader requires (status.c); a file without one of them is
# one libcrun cannot use.
STATUS_KEYS = ("pid", "cgroup-path", "rootfs", "bundle", "created")

def state_problem(backend: CrunBackend, id: str) -> Optional[str]:
    """Why the state files libcrun keeps for `id` cannot be read (its status, and the
    copy of config.json that delete reads), or None. Only asked once libcrun failed."""
    from lxcri.state import file_problem

    directory = backend._status_dir(id)
    return (file_problem(os.path.join(directory, "status"), STATUS_KEYS)
            or file_problem(os.path.join(directory, "config.json"), ()))


def load(binding: ModuleType, config_path: str) -> Any:
    """libcrun's container for config_path, in this process (a zygote loads its own)."""
    ffi, lib = binding.ffi, binding.lib
    err = ffi.new("libcrun_error_t *")
    with binding.LibcrunCall() as call:
        container = lib.libcrun_container_load_from_file(config_path.encode(), err)
    if container == ffi.NULL:
        status, msg = binding.take_error(err)
        raise CrunBackend._bad_config(config_path, status, msg, call)
    container = ffi.gc(container, lib.libcrun_container_free)
    problem = lib.lxcri_container_problem(container)
    if problem != ffi.NULL:
        raise CrunBackend._bad_config(config_path, 0, ffi.string(problem).decode(), call)
    return container


def keep_bytes(keep: List[Any], binding: ModuleType, data: bytes) -> Any:
    buf = binding.ffi.new("char[]", data)
    keep.append(buf)  # the struct only borrows the pointer
    return buf


def init_log(binding: ModuleType, log: str, log_format: str) -> Any:
    """Point libcrun's messages at --log (FILE, file:PATH, syslog:, journald:) in --log-format."""
    ffi, lib, check = binding.ffi, binding.lib, binding.check
    err = ffi.new("libcrun_error_t *")
    handler = ffi.new("crun_output_handler *")
    handler_arg = ffi.new("void **")
    check(lib.libcrun_init_logging(handler, handler_arg, ffi.NULL, log.encode(), err), err,
           f"cannot open the log {log}")
    if log_format != "text":
        check(lib.libcrun_set_log_format(log_format.encode(), err), err,
               f"unknown log format {log_format!r}")
    return handler[0], handler_arg[0]


def spec_json(rootless: bool = False) -> str:
    """libcrun's default config.json for a new bundle."""
    ffi, lib, check = binding.ffi, binding.lib, binding.check
    err = ffi.new("libcrun_error_t *")
    out = ffi.new("char **")
    try:
        check(lib.lxcri_spec_json(rootless, out, err), err, "cannot generate a spec")
        return str(ffi.string(out[0]).decode())
    finally:
        lib.lxcri_free(out[0])


def version_info() -> Dict[str, Any]:
    """libcrun's version, the OCI spec version it writes, and its build features."""
    import json

    ffi, lib = binding.ffi, binding.lib
    spec = json.loads(spec_json()).get("ociVersion", "")
    flags = [("SYSTEMD", lib.LXCRI_HAVE_SYSTEMD), ("CAP", lib.LXCRI_HAVE_CAP),
             ("SECCOMP", lib.LXCRI_HAVE_SECCOMP), ("EBPF", lib.LXCRI_HAVE_EBPF),
             ("CRIU", lib.LXCRI_HAVE_CRIU), ("YAJL", lib.LXCRI_HAVE_YAJL)]
    return {"libcrun": ffi.string(lib.lxcri_libcrun_version()).decode(), "spec": spec,
            "features": [f"+{name}" for name, on in flags if on]}


# Capability names in kernel order (capability.h); the host's cap_last_cap bounds the list.
_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")


def build_features() -> Dict[str, Any]:
    """The OCI features document (runtime-spec features.md) for this libcrun build."""
    import json

    from lxcri.host import procfs

    ffi, lib = binding.ffi, binding.lib
    last = procfs.cap_last_cap()
    if last is None:
        last = len(_CAPABILITIES) - 1
    namespaces = ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]
    if lib.LXCRI_HAVE_TIME_NS:
        namespaces.append("time")
    spec_version = json.loads(spec_json()).get("ociVersion", "1.0.0")
    seccomp_enabled = bool(lib.LXCRI_HAVE_SECCOMP)
    doc: Dict[str, Any] = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": spec_version,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted(set(ffi.string(lib.lxcri_mount_options()).decode().split())),
        "linux": {
            "namespaces": namespaces,
            "capabilities": [f"CAP_{n}" for n in _CAPABILITIES[:last + 1]],
            "cgroup": {"v1": True, "v2": True, "systemd": bool(lib.LXCRI_HAVE_SYSTEMD),
                       "systemdUser": bool(lib.LXCRI_HAVE_SYSTEMD), "rdma": True},
            "seccomp": {"enabled": seccomp_enabled},
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
        },
        "annotations": {"run.oci.crun.version": ffi.string(lib.lxcri_libcrun_version()).decode()},
    }
    if seccomp_enabled:
        doc["linux"]["seccomp"].update({
            "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                        "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                        "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
            "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                          "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
        })
        version = ffi.string(lib.lxcri_seccomp_version()).decode()
        if version:
            doc["annotations"]["io.github.seccomp.libseccomp.version"] = version
    return doc


def op_here(backend: CrunBackend, op: Operation, what: str) -> int:
    """One libcrun operation (lxcri_op_call) in this process, which must be sealed or
    need no seal."""
    ffi, lib = binding.ffi, binding.lib
    keep: List[Any] = []
    c = ffi.new("struct lxcri_op *")
    c.kind = op.kind
    c.context = libcrun_context(backend, binding, op.context, keep)
    c.id = keep_bytes(keep, binding, op.context.id.encode())
    container = None if op.config is None else load(binding, op.config)
    if container is not None:
        c.container = container  # kept alive by `container` until the call is done
    if op.arg is not None:
        c.arg = keep_bytes(keep, binding, op.arg)
        c.arg_len = len(op.arg)
    c.flag = op.flag
    sys.stdout.flush()  # the container writes straight to fd 1 and 2
    sys.stderr.flush()
    err = ffi.new("libcrun_error_t *")
    with _SavedProcessState(binding), binding.LibcrunCall() as libcrun_call:
        if op.cwd is not None:
            os.chdir(op.cwd)  # libcrun resolves root.path and records the bundle from the cwd
        ret = lib.lxcri_op_call(c, err)
    return int(binding.check(ret, err, what, op.context.id, call=libcrun_call,
                             config_path=op.config, root=backend.root))
