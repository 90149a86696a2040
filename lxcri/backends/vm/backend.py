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

import errno as errno_mod
import json
import os
import socket

from lxcri.backends import RuntimeType, backend_root
from lxcri.errors import (
    BackendUnavailable,
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    InvalidArgument,
    InvalidBundle,
    LxcriError,
    not_found,
)
from lxcri.host import Host
from lxcri.host.procfs import read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from lxcri.options import CreateOptions, ExecOptions, RunOptions

OCI_VERSION = "1.0.2"
DEFAULT_BOOT_TIMEOUT = 120  # seconds: a TCG boot takes 5-20 s on a loaded 2-CPU host
_STOP_TIMEOUT = 30.0
_SIGKILL = 9


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


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


class VmBackend:
    """The Backend protocol (lxcri.backends.base) on QEMU microvms."""

    name = RuntimeType.VM
    warning: Optional[str] = None

    def __init__(self, root: str, *, debug: bool = False, systemd_cgroup: bool = False,
                 force_no_cgroup: bool = False, log: Optional[str] = None,
                 log_format: str = "text", log_level: Optional[str] = None,
                 options: Optional[Dict[str, Any]] = None) -> None:
        self.root = os.path.abspath(root)
        self.dir = backend_root(self.root, RuntimeType.VM)
        self.options = dict(options or {})
        self.debug = debug or log_level == "debug"
        self.host = Host()

    # -- files --------------------------------------------------------------------------

    def _file(self, id: str, name: str) -> str:
        return os.path.join(self.dir, id, name)

    def _meta(self, id: str) -> Dict[str, Any]:
        text = read_text(self._file(id, "meta.json"))
        if text is None:
            raise not_found(id, self.dir)
        try:
            return dict(json.loads(text))
        except ValueError:
            raise LxcriError(f"container `{id}`: {self._file(id, 'meta.json')} is damaged; "
                             f"`lxcri delete --force {id}` removes it", container_id=id) from None

    def _proc(self, id: str, name: str) -> Tuple[int, Optional[str]]:
        text = read_text(self._file(id, name))
        if not text or len(text.split()) != 2:
            return 0, None
        pid, start = text.split()
        return int(pid), start

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

    # -- state --------------------------------------------------------------------------

    def state(self, id: str) -> Dict[str, Any]:
        meta = self._meta(id)
        status, pid = self._status(id)
        doc: Dict[str, Any] = {"ociVersion": OCI_VERSION, "id": id, "pid": pid,
                               "status": status, "bundle": meta.get("bundle", ""),
                               "rootfs": meta.get("rootfs", ""), "created": meta.get("created"),
                               "owner": meta.get("owner", "")}
        if meta.get("annotations"):
            doc["annotations"] = meta["annotations"]
        return doc

    def state_json(self, id: str) -> str:
        return json.dumps(self.state(id))

    def list(self) -> List[Dict[str, Any]]:
        if not os.path.isdir(self.dir):
            return []
        states = []
        for id in sorted(os.listdir(self.dir)):
            try:
                states.append(self.state(id))
            except LxcriError:
                continue
        return states

    # -- create / start / run -----------------------------------------------------------

    def create(self, id: str, options: CreateOptions) -> None:
        os.close(self._create(id, options))

    def run(self, id: str, options: RunOptions) -> int:
        status_r = self._create(id, options)
        try:
            self.start(id)
            if options.detach:
                return 0
            code = self._wait_exit(id, status_r)
        finally:
            os.close(status_r)
        if not options.keep:
            self.delete(id, force=True)
        return code

    def _wait_exit(self, id: str, status_r: int) -> int:
        data = b""
        while True:
            try:
                chunk = os.read(status_r, 4096)
            except InterruptedError:
                continue
            if not chunk:
                break
            data += chunk
            if b"exit " in data and data.endswith(b"\n"):
                break
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("exit "):
                return int(line.split()[1])
        text = read_text(self._file(id, "exit"))
        if text is not None:
            return int(text.split()[0])
        raise LxcriError(f"container `{id}`: its lxcri monitor ended without an exit status; "
                         f"see {self._file(id, 'monitor.log')}", container_id=id)

    def _create(self, id: str, options: CreateOptions) -> int:
        import time

        from lxcri.backends.vm import availability, cgroup, guest
        from lxcri.backends.vm import spec as vm_spec

        if options.preserve_fds or options.listen_fds:
            raise InvalidArgument(f"container `{id}`: the vm backend cannot pass host fds "
                                  "(--preserve-fds, LISTEN_FDS) into a VM", container_id=id)
        ok, why = availability(self.options)
        if not ok:
            raise BackendUnavailable(f"cannot create container `{id}`: {why}", container_id=id)
        config_path = options.config
        try:
            with open(config_path, "rb") as f:
                config = json.loads(f.read())
        except (OSError, ValueError) as exc:
            raise InvalidBundle(f"cannot read {config_path}: {exc}") from None
        plan = vm_spec.plan(id, config, bundle=str(options.bundle), config_path=config_path,
                            console_socket=options.console_socket is not None,
                            default_memory_mib=int(self.options.get("memory",
                                                                    vm_spec.DEFAULT_MEMORY_MIB)),
                            host_cpus=os.cpu_count() or 1)
        guest_dir, _release = guest.find_guest(self.options)
        qemu, _ = guest.find_qemu(self.options)
        accel_name, _why = guest.accel(self.options)
        assert guest_dir is not None and qemu is not None  # availability() said so
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        directory = os.path.join(self.dir, id)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise ContainerExists(
                f"container `{id}` already exists under {self.dir}: pick another id, "
                "or `lxcri delete` the old one", errno=errno_mod.EEXIST, container_id=id) from None
        try:
            created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + \
                ".%09dZ" % (time.time_ns() % 1_000_000_000)
            meta = {"bundle": str(options.bundle), "rootfs": plan["rootfs"], "created": created,
                    "annotations": plan["annotations"], "creator": os.getpid(),
                    "owner": "root" if os.geteuid() == 0 else str(os.geteuid()),
                    "memory_mib": plan["memory_mib"], "vcpus": plan["vcpus"],
                    "accel": accel_name}
            _write_atomic(self._file(id, "meta.json"), json.dumps(meta))
            limit = None
            if plan["memory_limit"] is not None:
                limit = (plan["memory_mib"] + guest.OVERHEAD_MIB[accel_name]) * vm_spec.MIB
            where = cgroup.create(id, plan["cgroups_path"], limit)
            meta["cgroup"] = where
            _write_atomic(self._file(id, "meta.json"), json.dumps(meta))
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
            _write_atomic(options.pid_file, str(pid))
        return status_r

    def _wait_ready(self, id: str, status_r: int) -> None:
        data = b""
        while b"\n" not in data:
            try:
                chunk = os.read(status_r, 4096)
            except InterruptedError:
                continue
            if not chunk:
                break
            data += chunk
        line = data.split(b"\n", 1)[0].decode(errors="replace")
        if line == "ready":
            return
        detail = line[5:] if line.startswith("fail ") else \
            f"the lxcri monitor ended unexpectedly; see {self._file(id, 'monitor.log')}"
        raise LxcriError(f"cannot create container `{id}`: {detail}", container_id=id)

    # -- talking to the monitor -----------------------------------------------------------

    def _connect(self, id: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        dfd = os.open(os.path.join(self.dir, id), os.O_PATH | os.O_CLOEXEC)
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

    def start(self, id: str) -> None:
        self._meta(id)
        status, _pid = self._status(id)
        if status != "created":
            raise ContainerStateError(
                f"cannot start container `{id}`: it is {status}, and only a created container "
                "can be started", container_id=id)
        self._request(id, "start", {"op": "start"})

    # -- signals, pause, delete -----------------------------------------------------------

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002
        self._meta(id)
        status, _pid = self._status(id)
        if status not in ("created", "running", "paused"):
            raise ContainerStateError(f"cannot send signal {signal} to container `{id}`: it is "
                                      f"{status}", container_id=id)
        self._request(id, "kill", {"op": "kill", "signal": int(signal), "all": bool(all)})

    def pause(self, id: str) -> None:
        self._meta(id)
        status, _pid = self._status(id)
        if status != "running":
            raise ContainerStateError(f"cannot pause container `{id}`: it is {status}, not "
                                      "running", container_id=id)
        self._request(id, "pause", {"op": "pause"})

    def resume(self, id: str) -> None:
        self._meta(id)
        status, _pid = self._status(id)
        if status != "paused":
            raise ContainerStateError(f"cannot resume container `{id}`: it is {status}, not "
                                      "paused", container_id=id)
        self._request(id, "resume", {"op": "resume"})

    def delete(self, id: str, *, force: bool = False) -> None:
        try:
            self._meta(id)
        except ContainerNotFound:
            if force and os.path.isdir(os.path.join(self.dir, id)):
                self._destroy(id)
                return
            raise
        except LxcriError:
            if not force:
                raise
        status, _pid = self._status(id)
        if status in ("running", "paused") and not force:
            raise ContainerStateError(
                f"cannot delete container `{id}`: it is {status}; stop it first "
                f"(`lxcri kill {id} KILL`) or use `delete --force`", container_id=id)
        if status == "creating" and not force:
            raise ContainerStateError(f"cannot delete container `{id}`: it is being created; "
                                      "use `delete --force`", container_id=id)
        self._destroy(id)

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
        shutil.rmtree(os.path.join(self.dir, id), ignore_errors=True)

    # -- exec ---------------------------------------------------------------------------

    def exec(self, id: str, options: ExecOptions) -> int:
        from lxcri.backends.vm import spec as vm_spec

        self._meta(id)
        status, _pid = self._status(id)
        if status != "running":
            raise ContainerStateError(f"cannot exec in container `{id}`: it is {status}, not "
                                      "running", container_id=id)
        if options.preserve_fds or options.listen_fds:
            raise InvalidArgument(f"cannot exec in container `{id}`: the vm backend cannot "
                                  "pass host fds into a VM", container_id=id)
        path = str(options.process)
        try:
            with open(path, "rb") as f:
                process = json.loads(f.read())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot exec in container `{id}`: cannot read {path}: "
                                  f"{exc}", container_id=id) from None
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
                _write_atomic(pid_file, str(os.getpid()))
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
        import sys

        sock = self._connect(id)
        r, w = os.pipe2(os.O_CLOEXEC)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child processes
            code = 255
            try:
                os.close(r)
                os.setsid()
                if os.fork() == 0:
                    try:
                        code = self._exec_relay(id, sock, proc, pid_file, fds, report=w)
                    except BaseException:
                        code = 255
                    os._exit(code & 0xff)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        sock.close()
        os.waitpid(pid, 0)
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
