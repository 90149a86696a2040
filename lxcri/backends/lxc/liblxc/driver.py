"""The liblxc driver of the lxc backend: OCI containers run as LXC containers by liblxc.

How OCI's lifecycle maps onto LXC:
- `create` writes an LXC config (mapping.py) to <lxcpath>/<id>/config and forks
  a *monitor* (monitor.py: double fork, own session, the caller's stdio) that calls
  liblxc's non-daemonized start. liblxc clones the container's init, then runs our
  `lxc.hook.start-host` script (hooks.py) on the host: it reports the init's pid through a
  fifo (`lxcri create` returns: the container is "created") and blocks reading a
  second fifo. The user's process is not executed until `start` writes to it.
- liblxc's start returns when the init exits, with its wait status in
  `error_num`: the monitor records the exit code in lxcri.exit. `run` in the
  foreground reads it from the monitor's status pipe.
- Everything `state` needs is in lxcri's own files beside LXC's config, because
  LXC's command socket is not served while the start-host hook blocks (lxc-info
  would hang on a created container). state, kill and delete never load liblxc.
- LXC never owns the bundle's rootfs: the config sets lxc.rootfs.managed = 0 and
  delete removes only <lxcpath>/<id> itself (liblxc's destroy would delete a dir
  rootfs of a managed container: measured here).

Files in <lxcpath>/<id>: config, lxc.log, lxcri.json (bundle, created,
annotations, rootfs), lxcri.monitor ("pid starttime"), lxcri.pid ("pid starttime
hookpid"), lxcri.start (fifo; present until started), lxcri.exit (exit code),
lxcri.hook-start-host, lxcri.hook-mount.
"""
from __future__ import annotations

import errno as errno_mod
import os
import sys

from lxcri import sealed
from lxcri.backends import backend_root
from lxcri.backends.lxc.liblxc import availability
from lxcri.backends.lxc.liblxc.binding import load_binding
from lxcri.backends.monitored import (
    OCI_VERSION,
    MonitoredBackend,
    exec_args,
    new_meta,
    read_config,
    read_process,
    write_atomic,
)
from lxcri.errors import (
    ContainerStateError,
    InvalidArgument,
    InvalidBundle,
    LxcriError,
)
from lxcri.host.procfs import read_text
from lxcri.host.real import Host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from lxcri.options import CreateOptions, ExecOptions

_MONITOR_EXIT_TIMEOUT = 30.0  # seconds delete waits for liblxc to tear a container down
_SIGKILL, _SIGTERM, _SIGINT, _SIGHUP, _SIGQUIT = 9, 15, 2, 1, 3


def exit_code_of(wait_status: int) -> int:
    """A wait status (liblxc's error_num) as a shell reports it: 128+N for signal N.

    Measured with liblxc 5.0.2: an init killed by signal N leaves error_num as
    (N << 8) | 0x7f, the shape of a *stopped* status, not the kernel's N; an exit
    leaves the usual (code << 8).
    """
    if wait_status & 0xff == 0x7f:
        return 128 + ((wait_status >> 8) & 0x7f)
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    if os.WIFEXITED(wait_status):
        return os.WEXITSTATUS(wait_status)
    return 255


# --- the driver --------------------------------------------------------------------------

class LiblxcDriver(MonitoredBackend):
    """OCI containers as LXC containers started by liblxc, state under <root>/.lxcri/lxc."""

    name = "liblxc"
    _META, _EXIT, _LOG = "lxcri.json", "lxcri.exit", "lxc.log"

    def __init__(self, root: str, options: Optional[Dict[str, Any]] = None, *,
                 debug: bool = False, host: Optional[Host] = None) -> None:
        """host: where processes and cgroups are looked up and signalled (a test double
        in unit tests)."""
        self.root = os.path.abspath(root)
        self.host = host if host is not None else Host()
        self.dir = backend_root(self.root, "lxc")
        self.options = dict(options or {})
        self.debug = debug

    # -- files ------------------------------------------------------------------------

    @property
    def lxcpath(self) -> str:
        """LXC's name for the directory of its containers: our state root."""
        return self.dir

    def _pids(self, id: str) -> Tuple[int, Optional[str], int]:
        """(init pid, its start time, hook pid); (0, None, 0) before the init exists."""
        text = read_text(self._file(id, "lxcri.pid"))
        if not text:
            return 0, None, 0
        parts = text.split()
        return int(parts[0]), parts[1], int(parts[2]) if len(parts) > 2 else 0

    def _status(self, id: str) -> Tuple[str, int]:
        """(OCI status, init pid) from lxcri's files and /proc; never asks LXC."""
        pid, start, _hook = self._pids(id)
        if os.path.exists(self._file(id, "lxcri.exit")):
            return "stopped", 0
        if pid == 0:
            mon, mon_start = self._proc(id, "lxcri.monitor")
            return ("creating", 0) if self.host.alive(mon, mon_start) else ("stopped", 0)
        if not self.host.alive(pid, start):
            return "stopped", 0
        if os.path.exists(self._file(id, "lxcri.start")):
            return "created", pid
        return ("paused" if self._frozen(pid) else "running"), pid

    def _frozen(self, pid: int) -> bool:
        dirs = self.host.cgroup_dirs(pid)
        if "freezer" in dirs:
            state = self.host.read(os.path.join(dirs["freezer"], "freezer.state")) or ""
            return state.strip() in ("FROZEN", "FREEZING")
        if "" in dirs:
            events = self.host.read(os.path.join(dirs[""], "cgroup.events")) or ""
            return "frozen 1" in events
        return False

    # -- create / start ---------------------------------------------------------------

    def create(self, id: str, options: CreateOptions) -> None:
        os.close(self._create(id, options))

    def _create(self, id: str, options: CreateOptions) -> int:
        """Create the container; returns the read end of its monitor's status pipe."""
        bundle, config_path, pid_file = str(options.bundle), options.config, options.pid_file
        preserve_fds = options.preserve_fds + options.listen_fds  # both reach the container

        from lxcri.backends.lxc.liblxc import mapping as lxc_config

        sealed.refuse_unless_sealed("create", id)
        if options.console_socket is not None:
            raise InvalidArgument(f"container `{id}`: the lxc backend cannot pass a terminal "
                                  "to a console socket yet; run without --console-socket "
                                  "and process.terminal", container_id=id)
        spec = read_config(config_path)
        root_path = (spec.get("root") or {}).get("path", "rootfs")
        rootfs = os.path.realpath(os.path.join(bundle, root_path))
        try:
            items, mask_lines = lxc_config.lxc_config(
                spec, rootfs=rootfs, state_dir=self._dir(id),
                layout=self.host.hierarchies(), debug=self.debug)
        except InvalidBundle as exc:
            raise InvalidBundle(f"container `{id}`: {config_path}: "
                                f"{exc.message.split(': ', 1)[-1]}", container_id=id) from None
        self._make_dir(id)
        try:
            return self._create_in(id, spec, bundle, rootfs, items, mask_lines, pid_file,
                                   preserve_fds)
        except BaseException:
            self._destroy(id)
            raise

    def _create_in(self, id: str, spec: Dict[str, Any], bundle: str, rootfs: str,
                   items: List[Tuple[str, str]], mask_lines: List[str], pid_file: Optional[str],
                   preserve_fds: int) -> int:
        import json

        from lxcri.backends.lxc.liblxc import hooks, monitor
        from lxcri.backends.lxc.liblxc import mapping as lxc_config

        directory = self._dir(id)
        hook = self._file(id, "lxcri.hook-start-host")
        hooks.write_start_host(hook, directory)
        items = list(items) + [("lxc.hook.start-host", hook)]
        if mask_lines:
            mount_hook = self._file(id, "lxcri.hook-mount")
            with open(mount_hook, "w") as f:
                f.write(lxc_config.MOUNT_HOOK_HEAD + "\n".join(mask_lines) + "\n")
            os.chmod(mount_hook, 0o700)
            items.append(("lxc.hook.mount", mount_hook))
        with open(self._file(id, "config"), "w") as f:
            f.write(lxc_config.render(items))
        os.mkfifo(self._file(id, "lxcri.start"), 0o600)
        os.mkfifo(self._file(id, "lxcri.ready"), 0o600)
        write_atomic(self._file(id, "lxcri.json"), json.dumps(
            new_meta(bundle, rootfs, spec.get("annotations") or {})))
        args = [a if isinstance(a, str) else str(a) for a in spec["process"]["args"]]
        ready = os.open(self._file(id, "lxcri.ready"), os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            status_r = monitor.spawn_monitor(self, id, args, preserve_fds)
            try:
                pid, hook_pid = monitor.wait_ready(self, id, ready, status_r)
            except BaseException:
                os.close(status_r)
                raise
        finally:
            os.close(ready)
        os.unlink(self._file(id, "lxcri.ready"))
        start = self.host.starttime(pid)
        if start is None:
            os.close(status_r)
            raise LxcriError(f"cannot create container `{id}`: its init (pid {pid}) exited "
                             f"before it was started; see {self._file(id, 'lxc.log')}",
                             container_id=id)
        write_atomic(self._file(id, "lxcri.pid"), f"{pid} {start} {hook_pid}\n")
        if pid_file is not None:
            write_atomic(pid_file, str(pid))
        return status_r

    def start(self, id: str) -> None:
        self._require_created(id)
        path = self._file(id, "lxcri.start")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise ContainerStateError(
                f"cannot start container `{id}`: it is not waiting to be started "
                f"({exc.strerror}); `lxcri delete --force {id}` removes it",
                container_id=id) from None
        try:
            os.unlink(path)
            os.write(fd, b"\n")
        finally:
            os.close(fd)

    # -- signals, delete ----------------------------------------------------------------

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002
        status, pid = self._require_signalable(id, signal)
        targets = [pid]
        if all:
            dirs = self.host.cgroup_dirs(pid)
            where = dirs.get("pids") or dirs.get("freezer") or dirs.get("")
            if where:
                targets = sorted(set(self.host.cgroup_pids(where)) | {pid})
        for target in targets:
            try:
                self.host.kill(target, signal)
            except ProcessLookupError:
                pass
        if status == "created" and signal in (_SIGKILL, _SIGTERM, _SIGINT, _SIGHUP, _SIGQUIT):
            # The init waits inside liblxc, which waits for the start-host hook: ending the
            # hook makes liblxc abandon the start, so the container stops instead of hanging.
            _pid, _start, hook = self._pids(id)
            if hook > 0 and self.host.starttime(hook) is not None:
                try:
                    self.host.kill(hook, _SIGKILL)
                except ProcessLookupError:
                    pass

    def _destroy(self, id: str) -> None:
        """Stop whatever runs of the container, wait for liblxc's cleanup, remove its files."""
        import shutil

        pid, start, hook = self._pids(id)
        if self.host.alive(pid, start):
            dirs = self.host.cgroup_dirs(pid)
            self._thaw(dirs)
            where = dirs.get("pids") or dirs.get("freezer") or dirs.get("")
            for target in sorted(set(self.host.cgroup_pids(where) if where else []) | {pid}):
                try:
                    self.host.kill(target, _SIGKILL)
                except ProcessLookupError:
                    pass
        if hook > 0 and self.host.starttime(hook) is not None:
            try:
                self.host.kill(hook, _SIGKILL)
            except ProcessLookupError:
                pass
        mon, mon_start = self._proc(id, "lxcri.monitor")
        if mon and not self.host.wait_gone(mon, mon_start, _MONITOR_EXIT_TIMEOUT):
            raise LxcriError(f"cannot delete container `{id}`: its lxcri monitor (pid {mon}) "
                             f"did not finish within {_MONITOR_EXIT_TIMEOUT:.0f}s; see "
                             f"{self._file(id, 'lxc.log')}", container_id=id)
        shutil.rmtree(self._dir(id), ignore_errors=True)

    def _thaw(self, dirs: Dict[str, str]) -> None:
        try:
            if "freezer" in dirs:
                self.host.write(os.path.join(dirs["freezer"], "freezer.state"), "THAWED")
            elif "" in dirs:
                self.host.write(os.path.join(dirs[""], "cgroup.freeze"), "0")
        except OSError:
            pass

    # -- operations through liblxc -------------------------------------------------------

    def _container(self, id: str) -> Tuple[Any, Any, Any]:
        ffi, lib = load_binding()
        c = lib.lxc_container_new(id.encode(), self.lxcpath.encode())
        if c == ffi.NULL:
            raise LxcriError(f"liblxc cannot load container `{id}` from {self.lxcpath}",
                             container_id=id)
        return ffi, lib, ffi.gc(c, lib.lxc_container_put)

    def pause(self, id: str) -> None:
        self._require(id, "pause", "running")
        ffi, lib, c = self._container(id)
        if not c.freeze(c):
            raise LxcriError(f"cannot pause container `{id}`: liblxc could not freeze it",
                             container_id=id)

    def resume(self, id: str) -> None:
        self._require(id, "resume", "paused")
        ffi, lib, c = self._container(id)
        if not c.unfreeze(c):
            raise LxcriError(f"cannot resume container `{id}`: liblxc could not thaw it",
                             container_id=id)

    def ps(self, id: str) -> List[int]:
        self._meta(id)
        status, pid = self._status(id)
        if pid == 0:
            return []
        dirs = self.host.cgroup_dirs(pid)
        where = dirs.get("pids") or dirs.get("freezer") or dirs.get("")
        return sorted(set(self.host.cgroup_pids(where) if where else []) | {pid})

    def update(self, id: str, resources_json: str) -> None:
        import json

        from lxcri.backends.lxc.liblxc import mapping as lxc_config

        self._meta(id)
        status, pid = self._status(id)
        if status not in ("created", "running", "paused"):
            raise ContainerStateError(f"cannot update container `{id}`: it is {status}",
                                      container_id=id)
        try:
            resources = json.loads(resources_json)
        except ValueError as exc:
            raise InvalidArgument(f"cannot update container `{id}`: the resources are not "
                                  f"valid JSON: {exc}", container_id=id) from None
        items: List[Tuple[str, str]] = []
        lxc_config._resources(resources, self.host.hierarchies(), items)
        dirs = self.host.cgroup_dirs(pid)
        for key, value in items:
            v2 = key.startswith("lxc.cgroup2.")
            name = key.split(".", 2)[2]
            controller = "" if v2 else name.split(".", 1)[0]
            base = dirs.get(controller)
            if base is None:
                raise LxcriError(f"cannot update container `{id}`: it has no "
                                 f"{controller or 'unified'} cgroup", container_id=id)
            try:
                self.host.write(os.path.join(base, name), value)
            except OSError as exc:
                raise LxcriError(f"cannot update container `{id}`: writing {value} to "
                                 f"{os.path.join(base, name)}: {exc.strerror}",
                                 errno=exc.errno, container_id=id) from None

    def exec(self, id: str, options: ExecOptions) -> int:
        process_path, pid_file = str(options.process), options.pid_file

        sealed.refuse_unless_sealed("exec into", id)
        self._require(id, "exec in", "running")
        process = read_process(id, process_path)
        if process.get("terminal") or options.console_socket is not None:
            raise InvalidArgument(f"cannot exec in container `{id}`: the lxc backend cannot "
                                  "give a process a terminal yet", container_id=id)
        args = exec_args(id, process, process_path)
        ffi, lib, c = self._container(id)
        keep: List[Any] = []

        def cstr(text: str) -> Any:
            buf = ffi.new("char[]", text.encode())
            keep.append(buf)
            return buf

        opts = ffi.new("lxc_attach_options_t *")
        opts.attach_flags = lib.LXC_ATTACH_DEFAULT
        opts.namespaces = -1
        opts.personality = lib.LXC_ATTACH_DETECT_PERSONALITY
        opts.initial_cwd = cstr(process.get("cwd") or "/")
        user = process.get("user") or {}
        opts.uid = int(user.get("uid", 0))
        opts.gid = int(user.get("gid", 0))
        opts.env_policy = lib.LXC_ATTACH_CLEAR_ENV
        env = [cstr(e) for e in process.get("env") or []]
        env_array = ffi.new("char *[]", env + [ffi.NULL])  # owned here: a struct field
        keep.append(env_array)                             # would not keep it alive
        opts.extra_env_vars = env_array
        opts.extra_keep_env = ffi.NULL
        opts.stdin_fd, opts.stdout_fd, opts.stderr_fd = 0, 1, 2
        opts.log_fd = -errno_mod.EBADF
        groups = [int(g) for g in user.get("additionalGids") or []]
        if groups:
            opts.attach_flags |= lib.LXC_ATTACH_SETGROUPS
            opts.groups.size = len(groups)
            group_array = ffi.new("gid_t[]", groups)
            keep.append(group_array)
            opts.groups.list = group_array
        if process.get("noNewPrivileges"):
            opts.attach_flags |= lib.LXC_ATTACH_NO_NEW_PRIVS
        cmd = ffi.new("lxc_attach_command_t *")
        cmd.program = cstr(args[0])
        argv_array = ffi.new("char *[]", [cstr(a) for a in args] + [ffi.NULL])
        keep.append(argv_array)
        cmd.argv = argv_array
        attached = ffi.new("pid_t *")
        sys.stdout.flush()
        sys.stderr.flush()
        ret = c.attach(c, lib.lxc_attach_run_command, cmd, opts, attached)
        if ret < 0:
            raise LxcriError(f"cannot exec in container `{id}`: liblxc could not attach "
                             f"{args[0]!r}", container_id=id)
        pid = int(attached[0])
        if pid_file is not None:
            write_atomic(pid_file, str(pid))
        if options.detach:
            return 0
        while True:
            try:
                _, wait_status = os.waitpid(pid, 0)
                return exit_code_of(wait_status)
            except InterruptedError:
                continue

    def features(self) -> Dict[str, Any]:
        from lxcri.backends.lxc.liblxc import mapping as lxc_config

        layout = self.host.hierarchies()
        return {
            "ociVersionMin": "1.0.0",
            "ociVersionMax": OCI_VERSION,
            "hooks": [],
            "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec",
                             "relatime", "strictatime", "private", "rprivate", "slave",
                             "rslave", "shared", "rshared"],
            "linux": {
                "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
                "capabilities": [f"CAP_{c.upper()}" for c in lxc_config._CAPS],
                "cgroup": {"v1": 1 in layout.values(), "v2": 2 in layout.values(),
                           "systemd": False, "systemdUser": False, "rdma": False},
                "seccomp": {"enabled": False},
                "apparmor": {"enabled": True},
                "selinux": {"enabled": True},
            },
            "annotations": {"org.linuxcontainers.lxc.version": availability({})[1]},
        }
