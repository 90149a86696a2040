"""The Proxmox driver of the lxc backend: OCI containers as Proxmox-managed CTs.

Chosen on a PVE node (`pct` present, pmxcfs mounted at /etc/pve) or when
lxcri.toml's [runtimes.lxc.proxmox] names an API endpoint. A bundle becomes a CT:
its rootfs is packed as a CT template, config.json is mapped to CT options
(lxcri.backends.lxc.proxmox.mapping), the VMID comes from the cluster, and the
id <-> VMID map lives under lxcri's state root (lxcri.backends.lxc.proxmox.records).
create/start/state/kill/delete go to the REST API (proxmoxer, API token) or to
`pct` on the node (lxcri.backends.lxc.proxmox.transport).

What a CT cannot do in OCI terms is refused with a clear error: a console socket,
preserved fds, a foreground run (pct start discards the container's stdout and
PVE reports no exit code), exec away from the node, pause.
"""
from __future__ import annotations

import os

from lxcri.backends import backend_root
from lxcri.backends.lxc.proxmox import (
    api_problem,
    availability,
    on_node,
    pct_path,
    read_secret,
    setting,
    settings,
)
from lxcri.errors import (
    BackendUnavailable,
    ContainerNotFound,
    ContainerStateError,
    InvalidArgument,
    InvalidBundle,
    LxcriError,
)
from lxcri.host.real import Host

TYPE_CHECKING = False
if TYPE_CHECKING:  # proxmoxer, json, subprocess and tarfile load only when an operation needs them
    from typing import Any, Dict, List, Optional, Union

    from lxcri.backends.lxc.proxmox.transport import ApiTransport, PctTransport
    from lxcri.options import CreateOptions, ExecOptions, RunOptions

    Transport = Union[ApiTransport, PctTransport]

OCI_VERSION = "1.0.2"
VMID_ANNOTATION = "lxcri.proxmox.vmid"
NODE_ANNOTATION = "lxcri.proxmox.node"
# Seconds a `kill TERM` (a clean shutdown) waits before PVE stops the CT hard.
SHUTDOWN_TIMEOUT = 30
_CREATE_ATTEMPTS = 5  # VMID races with other creators


# --- the driver ------------------------------------------------------------------------------

class ProxmoxDriver:
    """Serves the lxc backend's operations with Proxmox CTs (see the module docstring)."""

    name = "lxc"

    def __init__(self, root: str, options: Dict[str, Any], *, debug: bool = False,
                 host: Optional[Host] = None) -> None:
        """host: where a CT's processes are looked up and signalled on the node (a test
        double in unit tests)."""
        self.root = os.path.abspath(root)
        self.host = host if host is not None else Host()
        self.dir = os.path.join(backend_root(self.root, "lxc"), "proxmox")
        section = settings(options)  # not kept: it may hold the token secret
        self.debug = debug
        self.storage = str(setting(section, "storage"))
        self.network = str(setting(section, "network"))
        self.unprivileged = bool(setting(section, "unprivileged"))
        self.rootfs_size = int(setting(section, "rootfs_size"))
        self.pve_dir = str(setting(section, "pve_dir"))
        self.pct = pct_path(section)
        from lxcri.backends.lxc.proxmox.records import VmidMap
        from lxcri.backends.lxc.proxmox.transport import ApiTransport, PctTransport

        self.records = VmidMap(os.path.join(self.dir, "containers"))
        timeout = float(setting(section, "task_timeout"))
        log = self._debug_line if debug else None
        self.transport: Transport
        if section.get("endpoint"):
            problem = api_problem(section)
            if problem is not None:
                raise BackendUnavailable(problem)
            self.transport = ApiTransport(
                str(section["endpoint"]), str(section["node"]), str(section["token_id"]),
                read_secret(section), verify_ssl=bool(setting(section, "verify_ssl")),
                template_storage=str(setting(section, "template_storage")),
                task_timeout=timeout, debug=log)
        elif self.pct is not None and on_node(section):
            self.transport = PctTransport(self.pct, self.pve_dir, task_timeout=timeout, debug=log)
        else:
            raise BackendUnavailable(availability(options)[1])

    def __repr__(self) -> str:
        return f"ProxmoxDriver(root={self.root!r}, transport={self.transport!r})"

    @staticmethod
    def _debug_line(text: str) -> None:
        import sys

        sys.stderr.write(f"lxcri: {text}\n")

    # -- helpers ------------------------------------------------------------------------------

    def _fail(self, exc: LxcriError, what: str, id: str, vmid: Optional[int] = None) -> LxcriError:
        """Put lxcri's context (container, CT) in front of Proxmox's message, keeping the class."""
        ct = f" (CT {vmid})" if vmid is not None else ""
        new = type(exc)(f"cannot {what} container `{id}`{ct}: {exc.message}")
        new.container_id = id
        if hasattr(exc, "missing"):
            new.missing = exc.missing  # type: ignore[attr-defined]
        return new

    def _ct_status(self, record: Dict[str, Any]) -> Dict[str, Any]:
        """PVE's view of the record's CT: {"status": ..., "pid": ...}; {} when it is gone."""
        from lxcri.errors import ProxmoxError

        if record.get("vmid") is None:
            return {}
        try:
            return self.transport.status(int(record["vmid"]))
        except ProxmoxError as exc:
            if exc.missing:
                return {}
            raise self._fail(exc, "read the state of", record["id"], record["vmid"]) from None

    def _oci_status(self, record: Dict[str, Any], ct: Dict[str, Any]) -> str:
        if record.get("phase") != "created":
            return "creating"
        pve = ct.get("status")
        if pve == "running":
            return "running"
        if not ct or record.get("started"):
            return "stopped"
        return "created"

    def _check_marker(self, record: Dict[str, Any], what: str) -> None:
        """Refuse to touch a VMID that no longer carries this container's marker."""
        from lxcri.backends.lxc.proxmox.mapping import marker_for

        vmid = int(record["vmid"])
        config = self.transport.config(vmid)
        if marker_for(record["id"]) not in str(config.get("description", "")):
            raise ContainerStateError(
                f"cannot {what} container `{record['id']}`: CT {vmid} does not carry lxcri's "
                "marker for it in its Notes (they were edited, or the VMID was reused by another "
                f"guest), so lxcri leaves CT {vmid} alone; `lxcri delete --force {record['id']}` "
                "forgets the container without touching the CT", container_id=record["id"])

    def _load_config(self, config_path: str) -> Dict[str, Any]:
        import json

        try:
            with open(config_path, "rb") as f:
                config = json.load(f)
        except (OSError, ValueError) as exc:
            raise InvalidBundle(f"{config_path} cannot be read as JSON: {exc}") from None
        if not isinstance(config, dict):
            raise InvalidBundle(f"{config_path}: $: the top level must be a JSON object")
        return config

    def _rootfs(self, config: Dict[str, Any], bundle: str, config_path: str) -> str:
        path = (config.get("root") or {}).get("path")
        if not isinstance(path, str) or not path:
            raise InvalidBundle(f"{config_path}: root.path: must name the rootfs directory")
        rootfs = os.path.join(bundle, path)
        if not os.path.isdir(rootfs):
            raise InvalidBundle(f"{config_path}: root.path: {rootfs} is not a directory")
        return rootfs

    def _pack(self, rootfs: str) -> str:
        """The rootfs as a gzip'd tar (a CT template) in lxcri's own directory."""
        import secrets
        import tarfile

        templates = os.path.join(self.dir, "templates")
        os.makedirs(templates, mode=0o700, exist_ok=True)
        path = os.path.join(templates, f"lxcri-{secrets.token_hex(6)}.tar.gz")
        try:
            with tarfile.open(path, "w:gz", compresslevel=1) as tar:
                for entry in sorted(os.listdir(rootfs)):
                    tar.add(os.path.join(rootfs, entry), arcname=f"./{entry}")
        except OSError as exc:
            _unlink(path)
            raise InvalidBundle(f"cannot pack the rootfs {rootfs} as a CT template: "
                                f"{exc.strerror or exc}") from None
        return path

    # -- operations ---------------------------------------------------------------------------

    def create(self, id: str, options: CreateOptions) -> None:
        """Make the CT (stopped, so OCI "created"). pid_file stays unwritten: a PVE CT has no
        process before it starts."""
        import time

        from lxcri.backends.lxc.proxmox.mapping import ct_spec
        from lxcri.errors import ProxmoxError

        self._refuse_fds(id, options, "create")
        bundle, config_path = str(options.bundle), options.config
        config = self._load_config(config_path)
        rootfs = self._rootfs(config, bundle, config_path)
        try:
            version = self.transport.version()
        except ProxmoxError as exc:
            raise self._fail(exc, "create", id) from None
        spec = ct_spec(config, config_path, container_id=id, bundle=bundle,
                       network=self.network, unprivileged=self.unprivileged,
                       storage=self.storage, rootfs_size=self.rootfs_size, pve_version=version)
        annotations = config.get("annotations") or {}
        record: Dict[str, Any] = {
            "id": id, "vmid": None, "node": self.transport.node, "bundle": bundle,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "phase": "creating", "started": False, "transport": self.transport.kind,
            "annotations": {str(k): str(v) for k, v in annotations.items()},
        }
        self.records.claim(id, record)
        template = None
        made = False
        try:
            template = self._pack(rootfs)
            for attempt in range(_CREATE_ATTEMPTS):
                record["vmid"] = self.transport.next_vmid()
                self.records.update(id, record)  # before PVE has it: a crash leaves a trace
                try:
                    self.transport.create(record["vmid"], template, spec.options, spec.env,
                                          spec.entrypoint)
                    made = True
                    break
                except ProxmoxError as exc:
                    if "already exists" not in exc.message or attempt == _CREATE_ATTEMPTS - 1:
                        raise
            record["phase"] = "created"
            self.records.update(id, record)
        except BaseException as exc:
            self._roll_back(record, made)
            if isinstance(exc, LxcriError):
                raise self._fail(exc, "create", id, record.get("vmid")) from None
            raise
        finally:
            if template is not None:
                _unlink(template)

    def _roll_back(self, record: Dict[str, Any], made: bool) -> None:
        """Undo a failed create: the CT if PVE made it (or may have), then the record."""
        from lxcri.errors import ProxmoxError

        vmid = record.get("vmid")
        if vmid is not None:
            try:
                status = self.transport.status(vmid)
                if made or self._is_ours(record):
                    if status.get("status") == "running":
                        self.transport.stop(vmid)
                    self.transport.destroy(vmid)
            except (ProxmoxError, LxcriError):
                pass  # gone already, or never made; a stray CT keeps its Notes naming lxcri
        self.records.remove(record["id"])

    def _is_ours(self, record: Dict[str, Any]) -> bool:
        from lxcri.backends.lxc.proxmox.mapping import marker_for

        try:
            config = self.transport.config(int(record["vmid"]))
        except LxcriError:
            return False
        return marker_for(record["id"]) in str(config.get("description", ""))

    @staticmethod
    def _refuse_fds(id: str, options: Union[CreateOptions, ExecOptions], what: str) -> None:
        if options.console_socket:
            raise InvalidArgument(
                f"cannot {what} container `{id}`: a Proxmox CT has no console lxcri can hand "
                "over (--console-socket); run it without a terminal", container_id=id)
        if options.preserve_fds or options.listen_fds:
            raise InvalidArgument(
                f"cannot {what} container `{id}`: a Proxmox CT is started by PVE, which cannot "
                "pass it file descriptors (--preserve-fds, LISTEN_FDS)", container_id=id)

    def start(self, id: str) -> None:
        from lxcri.errors import ProxmoxError

        record = self.records.load(id)
        status = self._oci_status(record, self._ct_status(record))
        if status != "created":
            raise ContainerStateError(
                f"cannot start container `{id}`: it is {status}, and only a created container "
                "can be started", container_id=id)
        try:
            self.transport.start(int(record["vmid"]))
        except ProxmoxError as exc:
            raise self._fail(exc, "start", id, record["vmid"]) from None
        record["started"] = True
        self.records.update(id, record)

    def run(self, id: str, options: RunOptions) -> int:
        """Detached only: PVE discards a CT's stdout and reports no exit code to wait for."""
        if not options.detach:
            raise InvalidArgument(
                f"cannot run container `{id}` in the foreground: Proxmox discards a CT's output "
                "and reports no exit code; use `lxcri run --detach`, or create and start",
                container_id=id)
        self.create(id, options)
        try:
            self.start(id)
        except LxcriError:
            try:
                self.delete(id, force=True)
            except LxcriError:
                pass
            raise
        return 0

    def state_json(self, id: str) -> str:
        import json

        return json.dumps(self._state(self.records.load(id)))

    def _state(self, record: Dict[str, Any]) -> Dict[str, Any]:
        ct = self._ct_status(record)
        status = self._oci_status(record, ct)
        pid = 0
        if status == "running":
            try:
                pid = int(ct.get("pid") or 0)
            except (TypeError, ValueError):
                pid = 0
        annotations = dict(record.get("annotations") or {})
        if record.get("vmid") is not None:
            annotations[VMID_ANNOTATION] = str(record["vmid"])
        annotations[NODE_ANNOTATION] = str(record.get("node", ""))
        return {"ociVersion": OCI_VERSION, "id": record["id"], "status": status, "pid": pid,
                "bundle": record.get("bundle", ""), "created": record.get("created"),
                "owner": "", "annotations": annotations}

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002 (OCI's name)
        """KILL stops the CT, TERM shuts it down cleanly (PVE stops it hard after
        SHUTDOWN_TIMEOUT s). On the node any signal goes straight to the CT's init
        (to every process with all=True)."""
        from lxcri.errors import ProxmoxError

        record = self.records.load(id)
        ct = self._ct_status(record)
        status = self._oci_status(record, ct)
        if status != "running":
            raise ContainerStateError(
                f"cannot send signal {signal} to container `{id}`: it is {status}, not running",
                container_id=id)
        vmid = int(record["vmid"])
        try:
            self._check_marker(record, f"send signal {signal} to")
            pid = int(ct.get("pid") or 0)
            if self.transport.kind == "pct" and pid > 0:
                for target in (self.host.pve_ct_pids(vmid) if all else []) or [pid]:
                    try:
                        self.host.kill(target, signal)
                    except ProcessLookupError:
                        pass
            elif signal == 9:
                self.transport.stop(vmid)
            elif signal == 15:
                self.transport.shutdown(vmid, SHUTDOWN_TIMEOUT)
            else:
                raise InvalidArgument(
                    f"cannot send signal {signal} to container `{id}` (CT {vmid}): Proxmox can "
                    "only stop (KILL) or shut down (TERM) a CT; other signals need lxcri on the "
                    "node that runs it", container_id=id)
        except ProxmoxError as exc:
            raise self._fail(exc, f"send signal {signal} to", id, vmid) from None

    def delete(self, id: str, *, force: bool = False) -> None:
        from lxcri.errors import ProxmoxError

        record = self.records.load(id)
        if record.get("vmid") is None:
            self.records.remove(id)  # a create that died before it had a VMID
            return
        vmid = int(record["vmid"])
        ct = self._ct_status(record)
        if not ct:
            self.records.remove(id)  # removed in PVE already
            return
        status = self._oci_status(record, ct)
        if status == "running" and not force:
            raise ContainerStateError(
                f"cannot delete container `{id}` (CT {vmid}): it is running; stop it first "
                f"(`lxcri kill {id} KILL`) or use `delete --force`", container_id=id)
        try:
            self._check_marker(record, "delete")
        except ContainerStateError:
            if not force:
                raise
            self.records.remove(id)  # forget it; the CT is not ours to destroy
            return
        try:
            if ct.get("status") == "running":
                self.transport.stop(vmid)
            self.transport.destroy(vmid)
        except ProxmoxError as exc:
            if not exc.missing:
                raise self._fail(exc, "delete", id, vmid) from None
        self.records.remove(id)

    def list(self) -> List[Dict[str, Any]]:
        states = []
        for record in self.records.records():
            try:
                states.append(self._state(record))
            except ContainerNotFound:
                continue
        return states

    def exec(self, id: str, options: ExecOptions) -> int:
        """`pct exec` on the node that runs the CT; the CT's init is untouched."""
        import json
        import subprocess

        from lxcri.backends.lxc.proxmox.transport import pct_exec_argv

        self._refuse_fds(id, options, "exec into")
        process_path, pid_file = str(options.process), options.pid_file
        record = self.records.load(id)
        vmid = self._require_local(record, "exec into")
        if self._oci_status(record, self._ct_status(record)) != "running":
            raise ContainerStateError(f"cannot exec into container `{id}`: it is not running",
                                      container_id=id)
        try:
            with open(process_path, "rb") as f:
                process = json.load(f)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot read the process file {process_path}: {exc}") from None
        args = process.get("args") if isinstance(process, dict) else None
        if not args or not all(isinstance(a, str) for a in args):
            raise InvalidArgument(f"{process_path}: args: must be a non-empty array of strings")
        if process.get("terminal"):
            raise InvalidArgument(f"{process_path}: terminal: pct exec gives lxcri no terminal "
                                  "to hand over; set it to false")
        user = process.get("user") or {}
        if user.get("uid", 0) != 0 or user.get("gid", 0) != 0:
            raise InvalidArgument(f"{process_path}: user: pct exec runs commands as root only")
        argv = pct_exec_argv(str(self.pct), vmid, list(args), list(process.get("env") or []),
                             str(process.get("cwd") or "/"))
        if self.debug:
            self._debug_line("proxmox: " + " ".join(argv))
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        if options.detach:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
            if pid_file:
                _write_pid(pid_file, proc.pid)
            return 0
        return subprocess.call(argv)

    def _require_local(self, record: Dict[str, Any], what: str) -> int:
        vmid = record.get("vmid")
        if vmid is None:
            raise ContainerStateError(f"cannot {what} container `{record['id']}`: it is still "
                                      "being created", container_id=record["id"])
        local = os.path.isfile(os.path.join(self.pve_dir, "lxc", f"{vmid}.conf"))
        if self.pct is None or not local:
            raise LxcriError(
                f"cannot {what} container `{record['id']}` (CT {vmid}): this works only on the "
                f"Proxmox node that runs the CT (node {record.get('node')}), with pct",
                container_id=record["id"])
        return int(vmid)

    def ps(self, id: str) -> List[int]:
        record = self.records.load(id)
        return self.host.pve_ct_pids(self._require_local(record, "list the processes of"))

    def pause(self, id: str) -> None:
        self._no_pause(id, "pause")

    def resume(self, id: str) -> None:
        self._no_pause(id, "resume")

    def _no_pause(self, id: str, what: str) -> None:
        self.records.load(id)
        raise LxcriError(
            f"cannot {what} container `{id}`: Proxmox has no freeze for CTs (`pct suspend` is an "
            "experimental CRIU checkpoint, not a pause); stop it with `lxcri kill` instead",
            container_id=id)

    def update(self, id: str, resources_json: str) -> None:
        import json

        from lxcri.backends.lxc.proxmox.mapping import resource_options
        from lxcri.errors import ProxmoxError

        record = self.records.load(id)
        try:
            resources = json.loads(resources_json)
        except ValueError as exc:
            raise InvalidArgument(f"the resources for container `{id}` are not JSON: {exc}",
                                  container_id=id) from None
        options = resource_options(resources, "resources", field="resources")
        if not options or record.get("vmid") is None:
            return
        try:
            self.transport.set_options(int(record["vmid"]), options)
        except ProxmoxError as exc:
            raise self._fail(exc, "update", id, record["vmid"]) from None

    def features(self) -> Dict[str, Any]:
        return {
            "ociVersionMin": "1.0.0",
            "ociVersionMax": OCI_VERSION,
            "hooks": [],
            "mountOptions": ["bind", "rbind", "ro"],
            "linux": {
                "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
                "cgroup": {"v1": False, "v2": True, "systemd": False, "systemdUser": False},
                "seccomp": {"enabled": True},
                "apparmor": {"enabled": True},
            },
            "annotations": {"lxcri.proxmox.transport": self.transport.describe()},
        }


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_pid(path: str, pid: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
