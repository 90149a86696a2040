"""config.json -> what the vm backend boots: the VM's size, its 9p shares, the guest's mounts, the process.

plan() is pure (it reads the host only to stat bind sources and to count CPUs, both
passed in by the caller in tests) and raises InvalidBundle, in one line naming the
field, for anything a VM cannot honour: joining a namespace by path, device
passthrough, a terminal without a console socket, user-id mappings, hooks, an unknown
mount type, a memory limit below what the guest kernel needs. A network namespace (without a path) gives
the guest loopback only; no network namespace (the host's network) gives it QEMU's
user-mode network, NAT through the host's stack. Things a container runtime enforces *inside*
a kernel it shares with the host (capabilities, seccomp, AppArmor/SELinux labels,
rlimits, masked and read-only paths, sysctls, cgroup mounts) are accepted and not
applied: in this backend the VM itself is the boundary (README, "The vm backend").
"""
from __future__ import annotations

import os

from lxcri.errors import InvalidBundle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

MIB = 1 << 20
DEFAULT_MEMORY_MIB = 256
MIN_MEMORY_MIB = 128       # the Debian kernel, the initramfs and 9p need about 100 MiB
GUEST_ROOT = "/root"       # where the agent mounts the container's rootfs
SHARES = "/.lxcri/shares"  # where the agent mounts a share holding a bind-mounted file
MAX_TAG = 31               # virtio-9p mount_tag limit

# mount(2) flags, as the agent passes them on.
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_SYNCHRONOUS, MS_DIRSYNC, MS_NOATIME, MS_NODIRATIME = 16, 128, 1024, 2048
MS_BIND, MS_REC, MS_RELATIME, MS_STRICTATIME = 4096, 16384, 1 << 21, 1 << 24
_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
          "sync": MS_SYNCHRONOUS, "dirsync": MS_DIRSYNC, "noatime": MS_NOATIME,
          "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME,
          "bind": MS_BIND, "rbind": MS_BIND | MS_REC}
_CLEARS = {"rw", "suid", "dev", "exec", "async", "atime", "diratime", "norelatime"}
_PROPAGATION = {"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
                "runbindable"}
# Kernel file systems the guest mounts itself (source and options as given).
_GUEST_FS = ("proc", "sysfs", "tmpfs", "devpts", "mqueue")
# Mounts of the host's cgroups mean nothing in a VM: the guest's own are not mounted.
_SKIPPED_FS = ("cgroup", "cgroup2")


def _refuse(id: str, config_path: str, what: str) -> InvalidBundle:
    return InvalidBundle(f"container `{id}`: {config_path}: {what}", container_id=id)


def mount_flags(options: List[str]) -> Tuple[int, List[str]]:
    """(mount(2) flags, the data options left) of an OCI mount's options."""
    flags, data = 0, []
    for opt in options:
        if opt in _FLAGS:
            flags |= _FLAGS[opt]
        elif opt in _CLEARS or opt in _PROPAGATION:
            if opt == "rw":
                flags &= ~MS_RDONLY
        else:
            data.append(opt)
    return flags, data


def vcpus(resources: Dict[str, Any], host_cpus: int) -> int:
    """vCPUs from linux.resources.cpu: ceil(quota/period) and the cpuset's size, at most the
    host's CPUs; 1 when neither is set."""
    cpu = resources.get("cpu") or {}
    counts = []
    quota, period = cpu.get("quota"), cpu.get("period") or 100000
    if isinstance(quota, int) and quota > 0:
        counts.append(-(-quota // int(period)))
    cpus = cpu.get("cpus")
    if isinstance(cpus, str) and cpus.strip():
        n = 0
        for part in cpus.split(","):
            lo, _, hi = part.strip().partition("-")
            n += (int(hi) - int(lo) + 1) if hi else 1
        counts.append(n)
    return max(1, min([host_cpus] + counts)) if counts else 1


def plan(id: str, spec: Dict[str, Any], *, bundle: str, config_path: str,
         console_socket: bool = False,
         default_memory_mib: int = DEFAULT_MEMORY_MIB, host_cpus: int = 1,
         is_dir: Callable[[str], bool] = os.path.isdir,
         exists: Callable[[str], bool] = os.path.exists) -> Dict[str, Any]:
    """The VM for config.json `spec` (plain data the monitor takes), or InvalidBundle."""
    refuse: Callable[[str], InvalidBundle] = lambda what: _refuse(id, config_path, what)  # noqa: E731
    process = spec.get("process")
    if not isinstance(process, dict):
        raise refuse("process is missing: the vm backend runs one process per VM")
    if process.get("terminal") and not console_socket:
        raise refuse("process.terminal is true but no --console-socket was given to send "
                     "the terminal to")
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise refuse("process.args must be a non-empty array of strings")
    linux = spec.get("linux") or {}
    namespaces = linux.get("namespaces") or []
    for ns in namespaces:
        if ns.get("path"):
            raise refuse(f"the {ns.get('type')} namespace joins {ns['path']}: a VM cannot "
                         "join a host namespace; drop the path")
    if linux.get("devices"):
        names = ", ".join(str(d.get("path")) for d in linux["devices"][:3])
        raise refuse(f"linux.devices asks for {names}: the vm backend passes no host "
                     "device into a VM")
    if linux.get("uidMappings") or linux.get("gidMappings"):
        raise refuse("linux.uidMappings/gidMappings: the vm backend maps no user ids "
                     "(the VM is the boundary); drop the user namespace")
    hooks = {k: v for k, v in (spec.get("hooks") or {}).items() if v}
    if hooks:
        raise refuse(f"hooks ({', '.join(sorted(hooks))}): the vm backend runs no OCI hooks")
    root = spec.get("root") or {}
    rootfs = os.path.realpath(os.path.join(bundle, root.get("path") or "rootfs"))
    if not is_dir(rootfs):
        raise refuse(f"root.path {rootfs} is not a directory")

    user = process.get("user") or {}
    proc = {
        "args": args,
        "env": [e for e in process.get("env") or [] if isinstance(e, str)],
        "cwd": process.get("cwd") or "/",
        "uid": int(user.get("uid", 0)),
        "gid": int(user.get("gid", 0)),
        "groups": [int(g) for g in user.get("additionalGids") or []],
        "terminal": bool(process.get("terminal")),
    }

    shares: List[Dict[str, Any]] = [{"tag": "root", "path": rootfs,
                                     "readonly": bool(root.get("readonly"))}]
    mounts: List[List[str]] = [["9p", "root", GUEST_ROOT,
                                str(MS_RDONLY if root.get("readonly") else 0),
                                "trans=virtio,version=9p2000.L,msize=524288"]]
    by_path: Dict[Tuple[str, bool], str] = {}

    def share(path: str, readonly: bool) -> str:
        key = (path, readonly)
        if key not in by_path:
            tag = f"s{len(shares)}"
            by_path[key] = tag
            shares.append({"tag": tag, "path": path, "readonly": readonly})
            flags = MS_RDONLY if readonly else 0
            mounts.append(["9p", tag, f"{SHARES}/{tag}", str(flags),
                           "trans=virtio,version=9p2000.L,msize=524288"])
        return by_path[key]

    dev_tmpfs = False
    for m in spec.get("mounts") or []:
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest.startswith("/"):
            raise refuse(f"mount destination {dest!r} is not an absolute path")
        target = os.path.normpath(GUEST_ROOT + dest)
        options = [o for o in m.get("options") or [] if isinstance(o, str)]
        flags, data = mount_flags(options)
        mtype = m.get("type") or ""
        if mtype in _SKIPPED_FS:
            continue
        if mtype == "bind" or flags & MS_BIND:
            source = m.get("source") or ""
            if not exists(source):
                raise refuse(f"bind mount source {source!r} (for {dest}) does not exist")
            source = os.path.realpath(source)
            readonly = bool(flags & MS_RDONLY)
            if is_dir(source):
                tag = share(source, readonly)
                mounts.append(["bind", f"{SHARES}/{tag}", target, str(flags), ""])
            else:
                tag = share(os.path.dirname(source), readonly)
                mounts.append(["bind", f"{SHARES}/{tag}/{os.path.basename(source)}", target,
                               str(flags), ""])
            continue
        if mtype not in _GUEST_FS:
            raise refuse(f"mount type {mtype!r} at {dest}: the vm backend mounts proc, sysfs, "
                         "tmpfs, devpts, mqueue and bind mounts only")
        mounts.append([mtype, m.get("source") or mtype, target, str(flags), ",".join(data)])
        if dest == "/dev" and mtype == "tmpfs":
            dev_tmpfs = True
    if dev_tmpfs:
        mounts.append(["devnodes", "", GUEST_ROOT + "/dev", "0", ""])
    elif not any(m[2] == GUEST_ROOT + "/dev" for m in mounts):
        mounts.append(["devtmpfs", "devtmpfs", GUEST_ROOT + "/dev", str(MS_NOSUID), ""])
    for tag_share in shares:
        if len(tag_share["tag"]) > MAX_TAG:  # pragma: no cover - tags are short by construction
            raise refuse("too many shares")

    resources = linux.get("resources") or {}
    limit = (resources.get("memory") or {}).get("limit")
    memory_mib = default_memory_mib
    limit_bytes: Optional[int] = None
    if isinstance(limit, int) and limit > 0:
        limit_bytes = limit
        memory_mib = -(-limit // MIB)
        if memory_mib < MIN_MEMORY_MIB:
            raise refuse(f"linux.resources.memory.limit {limit} is below the {MIN_MEMORY_MIB} "
                         "MiB a vm backend guest needs; raise it")
    cgroups_path = linux.get("cgroupsPath")
    if not isinstance(cgroups_path, str) or ":" in cgroups_path or not cgroups_path.strip("/"):
        cgroups_path = None  # a systemd slice:prefix:name, or none: lxcri-vm/<id>
    return {
        "rootfs": rootfs, "readonly": bool(root.get("readonly")),
        "hostname": spec.get("hostname") if isinstance(spec.get("hostname"), str) else None,
        "process": proc, "shares": shares, "mounts": mounts,
        "memory_mib": memory_mib, "memory_limit": limit_bytes,
        "vcpus": vcpus(resources, host_cpus),
        "cgroups_path": cgroups_path,
        # A new network namespace is an empty one: loopback only. None asked for means the
        # host's network: a VM cannot share it, so it gets QEMU's user-mode (NAT) network.
        "network": "none" if any(ns.get("type") == "network" for ns in namespaces) else "user",
        "annotations": spec.get("annotations") or {},
    }


def exec_process(id: str, process: Dict[str, Any], path: str,
                 console_socket: bool = False) -> Dict[str, Any]:
    """An exec's process.json as the agent takes it, or InvalidBundle."""
    if process.get("terminal") and not console_socket:
        raise InvalidBundle(f"cannot exec in container `{id}`: {path} asks for a terminal but "
                            "no --console-socket was given to send it to", container_id=id)
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise InvalidBundle(f"cannot exec in container `{id}`: {path}: args must be a "
                            "non-empty array of strings", container_id=id)
    user = process.get("user") or {}
    return {"args": args, "env": [e for e in process.get("env") or [] if isinstance(e, str)],
            "cwd": process.get("cwd") or "/", "uid": int(user.get("uid", 0)),
            "gid": int(user.get("gid", 0)),
            "groups": [int(g) for g in user.get("additionalGids") or []],
            "terminal": bool(process.get("terminal"))}
