"""The vm backend's Backend: OCI containers each in a QEMU microvm, state under <root>/.lxcri/vm.

create checks config.json (spec.plan: refusals happen here, before QEMU starts), makes
the state directory and the memory cgroup, and double-forks the monitor (monitor.py),
which boots the VM and reports "ready" once the guest agent has mounted the rootfs
and holds the process ready to run. Later calls answer from the files the monitor
keeps, or talk to it over ctl.sock; none of them loads QEMU or waits for the guest
except start, kill, pause, resume and exec.

Files in <root>/.lxcri/vm/<id>: meta.json (bundle, rootfs, created, annotations,
owner, cgroup), monitor ("pid starttime": the container's pid), qemu ("pid
starttime"), qemu.argv, ready (the guest holds the process), started, paused, exit
(the exit code), guest-pid, boot.json (boot timings), ctl.sock, monitor.log,
qemu.log, console.log (the guest kernel's console).
"""
from __future__ import annotations

import json
import os
import socket

from lxcri.backends import RuntimeType, backend_root
from lxcri.backends.monitored import (
    OCI_VERSION,
    MonitoredBackend,
    double_fork,
    new_meta,
    read_config,
    read_process,
    read_status,
    write_atomic,
)
from lxcri.errors import (
    BackendUnavailable,
    ContainerStateError,
    InvalidArgument,
    LxcriError,
)
from lxcri.host.procfs import read_text
from lxcri.host.real import Host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from lxcri.options import CreateOptions, ExecOptions

DEFAULT_BOOT_TIMEOUT = 120  # seconds: a TCG boot takes 5-20 s on a loaded 2-CPU host
_STOP_TIMEOUT = 30.0
_SIGKILL = 9


def send_terminal(id: str, console_socket: str) -> int:
    """A host pseudo-terminal for a process in the guest: its master goes to the console
    socket (SCM_RIGHTS, as runc and crun send it); the slave, in raw mode (the guest's own
    pty does the line discipline), is returned for the monitor to relay."""
    import tty as tty_mod

    master, slave = os.openpty()
    try:
        tty_mod.setraw(slave)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(console_socket)
            socket.send_fds(sock, [os.ttyname(slave).encode()], [master])
        finally:
            sock.close()
    except OSError as exc:
        os.close(slave)
        raise InvalidArgument(f"container `{id}`: cannot send the terminal to the console "
                              f"socket {console_socket}: {exc.strerror}", errno=exc.errno,
                              container_id=id) from None
    finally:
        os.close(master)
    return slave


class VmBackend(MonitoredBackend):
    """The Backend protocol (lxcri.backends.base) on QEMU microvms."""

    name = RuntimeType.VM
    warning: Optional[str] = None
    _META, _EXIT, _LOG = "meta.json", "exit", "monitor.log"
    _STATUS_TO_EOF = False  # after "exit N" the monitor still stops QEMU

    def __init__(self, root: str, *, debug: bool = False, systemd_cgroup: bool = False,
                 force_no_cgroup: bool = False, log: Optional[str] = None,
                 log_format: str = "text", log_level: Optional[str] = None,
                 options: Optional[Dict[str, Any]] = None) -> None:
        self.root = os.path.abspath(root)
        self.dir = backend_root(self.root, RuntimeType.VM)
        self.options = dict(options or {})
        self.debug = debug or log_level == "debug"
        self.host = Host()

    # -- status -------------------------------------------------------------------------

    def _status(self, id: str) -> Tuple[str, int]:
        """(OCI status, the monitor's pid) from the monitor's files and /proc."""
        if os.path.exists(self._file(id, "exit")):
            return "stopped", 0
        pid, start = self._proc(id, "monitor")
        if not self.host.alive(pid, start):
            return ("creating", 0) if pid == 0 and not os.path.exists(
                self._file(id, "ready")) and self._creating(id) else ("stopped", 0)
        if not os.path.exists(self._file(id, "ready")):
            return "creating", pid
        if not os.path.exists(self._file(id, "started")):
            return "created", pid
        if os.path.exists(self._file(id, "paused")):
            return "paused", pid
        return "running", pid

    def _creating(self, id: str) -> bool:
        """A create in progress that has not recorded its monitor yet."""
        meta = read_text(self._file(id, "meta.json")) or "{}"
        try:
            creator = int(json.loads(meta).get("creator", 0))
        except (ValueError, TypeError):
            return False
        return creator > 0 and self.host.starttime(creator) is not None

    # -- create / start -----------------------------------------------------------------

    def create(self, id: str, options: CreateOptions) -> None:
        os.close(self._create(id, options))

    def _create(self, id: str, options: CreateOptions) -> int:
        from lxcri.backends.vm import availability, cgroup, guest
        from lxcri.backends.vm import spec as vm_spec

        if options.preserve_fds or options.listen_fds:
            raise InvalidArgument(f"container `{id}`: the vm backend cannot pass host fds "
                                  "(--preserve-fds, LISTEN_FDS) into a VM", container_id=id)
        ok, why = availability(self.options)
        if not ok:
            raise BackendUnavailable(f"cannot create container `{id}`: {why}", container_id=id)
        config_path = options.config
        config = read_config(config_path)
        plan = vm_spec.plan(id, config, bundle=str(options.bundle), config_path=config_path,
                            console_socket=options.console_socket is not None,
                            default_memory_mib=int(self.options.get("memory",
                                                                    vm_spec.DEFAULT_MEMORY_MIB)),
                            host_cpus=os.cpu_count() or 1)
        guest_dir, _release = guest.find_guest(self.options)
        qemu, _ = guest.find_qemu(self.options)
        accel_name, _why = guest.accel(self.options)
        assert guest_dir is not None and qemu is not None  # availability() said so
        directory = self._make_dir(id)
        try:
            meta = new_meta(str(options.bundle), plan["rootfs"], plan["annotations"])
            meta.update({"creator": os.getpid(), "memory_mib": plan["memory_mib"],
                         "vcpus": plan["vcpus"], "accel": accel_name})
            write_atomic(self._file(id, "meta.json"), json.dumps(meta))
            limit = None
            if plan["memory_limit"] is not None:
                limit = (plan["memory_mib"] + guest.OVERHEAD_MIB[accel_name]) * vm_spec.MIB
            where = cgroup.create(id, plan["cgroups_path"], limit)
            meta["cgroup"] = where
            write_atomic(self._file(id, "meta.json"), json.dumps(meta))
            from lxcri.backends.vm import monitor

            launch = {"id": id, "qemu": qemu, "guest_dir": guest_dir, "accel": accel_name,
                      "slots": 1 + int(self.options.get("exec_slots", guest.EXEC_SLOTS)),
                      "cgroup": where,
                      "boot_timeout": int(self.options.get("boot_timeout",
                                                           DEFAULT_BOOT_TIMEOUT))}
            tty = None
            if plan["process"]["terminal"]:
                tty = send_terminal(id, str(options.console_socket))
                launch["tty_fd"] = tty
            try:
                status_r = monitor.spawn(directory, plan, launch)
            finally:
                if tty is not None:
                    os.close(tty)
            try:
                self._wait_ready(id, status_r)
            except BaseException:
                os.close(status_r)
                raise
        except BaseException:
            self._destroy(id)
            raise
        pid, _start = self._proc(id, "monitor")
        if options.pid_file is not None:
            write_atomic(options.pid_file, str(pid))
        return status_r

    def _wait_ready(self, id: str, status_r: int) -> None:
        data = read_status(status_r, lambda d: b"\n" in d)
        line = data.split(b"\n", 1)[0].decode(errors="replace")
        if line == "ready":
            return
        detail = line[5:] if line.startswith("fail ") else \
            f"the lxcri monitor ended unexpectedly; see {self._file(id, 'monitor.log')}"
        raise LxcriError(f"cannot create container `{id}`: {detail}", container_id=id)

    # -- talking to the monitor -----------------------------------------------------------

    def _connect(self, id: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        dfd = os.open(self._dir(id), os.O_PATH | os.O_CLOEXEC)
        try:
            sock.connect(f"/proc/self/fd/{dfd}/ctl.sock")  # short, whatever the root's length
        except OSError as exc:
            sock.close()
            raise LxcriError(f"container `{id}`: its lxcri monitor does not answer "
                             f"({exc.strerror}); `lxcri delete --force {id}` removes it",
                             container_id=id) from None
        finally:
            os.close(dfd)
        return sock

    def _request(self, id: str, what: str, request: Dict[str, Any]) -> None:
        sock = self._connect(id)
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = self._read_line(sock)
        finally:
            sock.close()
        if answer is None:
            raise LxcriError(f"cannot {what} container `{id}`: its lxcri monitor went away",
                             container_id=id)
        if "error" in answer:
            raise ContainerStateError(f"cannot {what} container `{id}`: {answer['error']}",
                                      container_id=id)

    @staticmethod
    def _read_line(sock: socket.socket, buf: Optional[bytearray] = None) -> Optional[Dict[str, Any]]:
        data = buf if buf is not None else bytearray()
        while b"\n" not in data:
            try:
                chunk = sock.recv(65536)
            except InterruptedError:
                continue
            if not chunk:
                return None
            data += chunk
        line, _, rest = bytes(data).partition(b"\n")
        data[:] = rest
        return dict(json.loads(line))

    def start(self, id: str, *, notify_socket: Optional[str] = None) -> None:
        self._require_created(id)
        self._request(id, "start", {"op": "start"})

    # -- signals, pause, delete -----------------------------------------------------------

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002
        self._require_signalable(id, signal)
        self._request(id, "kill", {"op": "kill", "signal": int(signal), "all": bool(all)})

    def pause(self, id: str) -> None:
        self._require(id, "pause", "running")
        self._request(id, "pause", {"op": "pause"})

    def resume(self, id: str) -> None:
        self._require(id, "resume", "paused")
        self._request(id, "resume", {"op": "resume"})

    def _destroy(self, id: str) -> None:
        """Kill QEMU and the monitor by pid, wait for them, remove the cgroup and the files."""
        import shutil

        from lxcri.backends.vm import cgroup

        procs = [self._proc(id, "qemu"), self._proc(id, "monitor")]
        for pid, start in procs:
            if self.host.alive(pid, start):
                try:
                    self.host.kill(pid, _SIGKILL)
                except ProcessLookupError:
                    pass
        for pid, start in procs:
            if pid and not self.host.wait_gone(pid, start, _STOP_TIMEOUT):
                raise LxcriError(f"cannot delete container `{id}`: process {pid} did not end "
                                 f"within {_STOP_TIMEOUT:.0f}s", container_id=id)
        try:
            meta = json.loads(read_text(self._file(id, "meta.json")) or "{}")
        except ValueError:
            meta = {}
        cgroup.remove(meta.get("cgroup"))
        shutil.rmtree(self._dir(id), ignore_errors=True)

    # -- exec ---------------------------------------------------------------------------

    def exec(self, id: str, options: ExecOptions) -> int:
        from lxcri.backends.vm import spec as vm_spec

        self._require(id, "exec in", "running")
        if options.preserve_fds or options.listen_fds:
            raise InvalidArgument(f"cannot exec in container `{id}`: the vm backend cannot "
                                  "pass host fds into a VM", container_id=id)
        path = str(options.process)
        process = read_process(id, path)
        proc = vm_spec.exec_process(id, process, path, options.console_socket is not None)
        fds = [0, 1, 2]
        tty = None
        if proc["terminal"]:
            tty = send_terminal(id, str(options.console_socket))
            fds = [tty, tty, tty]
        try:
            if options.detach:
                return self._exec_detached(id, proc, options.pid_file, fds)
            sock = self._connect(id)
            try:
                return self._exec_relay(id, sock, proc, options.pid_file, fds)
            finally:
                sock.close()
        finally:
            if tty is not None:
                os.close(tty)

    def _exec_relay(self, id: str, sock: socket.socket, proc: Dict[str, Any],
                    pid_file: Optional[str], fds: List[int],
                    report: Optional[int] = None) -> int:
        """Hand the process's stdio (ours, or a terminal's) to the monitor with the request;
        wait for the pid and the exit."""
        socket.send_fds(sock, [json.dumps({"op": "exec", "process": proc}).encode() + b"\n"],
                        fds)
        buf = bytearray()
        answer = self._read_line(sock, buf)
        if answer is not None and "pid" in answer:
            if pid_file is not None:
                write_atomic(pid_file, str(os.getpid()))
            if report is not None:
                os.write(report, b"ok\n")
            answer = self._read_line(sock, buf)
        message = None
        while answer is not None and "message" in answer:
            message = str(answer["message"])
            answer = self._read_line(sock, buf)
        if answer is not None and "exit" in answer:
            if message is not None and report is None:
                os.write(2, f"lxcri: container `{id}`: {message}\n".encode())
            if report is not None and message is not None:
                os.write(report, f"fail {message}\n".encode())
            return int(answer["exit"])
        why = (answer or {}).get("error") or message or "its lxcri monitor went away"
        if report is not None:
            os.write(report, f"fail {why}\n".encode())
        raise LxcriError(f"cannot exec in container `{id}`: {why}", container_id=id)

    def _exec_detached(self, id: str, proc: Dict[str, Any], pid_file: Optional[str],
                       fds: List[int]) -> int:
        """A relay process (double-forked, own session) that lives as long as the exec'd
        process and exits with its code: the pid an engine waits for."""
        sock = self._connect(id)
        r, w = os.pipe2(os.O_CLOEXEC)

        def relay() -> None:  # pragma: no cover - runs in the relay process
            try:
                code = self._exec_relay(id, sock, proc, pid_file, fds, report=w)
            except BaseException:
                code = 255
            os._exit(code & 0xff)

        try:
            double_fork(relay, [r])
        finally:
            os.close(w)
            sock.close()
        with os.fdopen(r, "rb") as f:
            line = f.readline().decode(errors="replace").strip()
        if line != "ok":
            raise LxcriError(f"cannot exec in container `{id}`: "
                             f"{line[5:] if line.startswith('fail ') else 'the exec relay failed'}",
                             container_id=id)
        return 0

    # -- the rest -----------------------------------------------------------------------

    def ps(self, id: str) -> List[int]:
        """The host processes of the container: its monitor and QEMU."""
        self._meta(id)
        pids = []
        for name in ("monitor", "qemu"):
            pid, start = self._proc(id, name)
            if self.host.alive(pid, start):
                pids.append(pid)
        return pids

    def update(self, id: str, resources_json: str) -> None:
        self._meta(id)
        raise InvalidArgument(f"cannot update container `{id}`: a VM's memory and vCPUs are "
                              "fixed when it boots (the vm backend has no update)",
                              container_id=id)

    def features(self) -> Dict[str, Any]:
        from lxcri.backends.vm import spec as vm_spec

        return {
            "ociVersionMin": "1.0.0",
            "ociVersionMax": OCI_VERSION,
            "hooks": [],
            "mountOptions": sorted(set(vm_spec._FLAGS) | vm_spec._CLEARS | vm_spec._PROPAGATION),
            "linux": {
                "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
                "capabilities": [],
                "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                           "rdma": False},
                "seccomp": {"enabled": False},
                "apparmor": {"enabled": False},
                "selinux": {"enabled": False},
            },
            "annotations": {"run.lxcri.vm": "QEMU microvm, rootfs over virtio-9p"},
        }
