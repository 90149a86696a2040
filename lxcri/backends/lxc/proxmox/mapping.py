"""OCI config.json -> Proxmox CT options: a pure function, so every rule is unit-tested.

A Proxmox CT is a system container that PVE configures itself (AppArmor, seccomp,
capabilities, its own id mapping when unprivileged). What lxcri can pass through is
what PVE's CT options can say: hostname, memory and swap in MiB, cores, cpulimit,
cpuunits, bind mounts as mpN, the network as net0, and on PVE >= 9.1 the init
command (`entrypoint`) and its environment (`env`). Whatever else the bundle asks
for and a CT cannot honour is refused with InvalidBundle naming the config.json
field, instead of being silently dropped.
"""
from __future__ import annotations

from lxcri.errors import InvalidBundle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

MIB = 1024 * 1024
PVE_MIN_MEMORY_MIB = 16        # the `memory` option's minimum in PVE's schema
PVE_MAX_CORES = 8192           # the `cores` option's maximum in PVE's schema
PVE_MAX_CPULIMIT = 8192        # the `cpulimit` option's maximum in PVE's schema
PVE_MAX_MOUNT_POINTS = 256     # mp0 .. mp255
ENTRYPOINT_MIN_VERSION = (9, 1)

# Characters PVE 9 refuses in the `entrypoint` and `env` options (their schema patterns
# leave out \x00-\x08, \x10-\x1f and \x7f), and the newline, which the line-based CT
# config cannot hold. The same rule holds for both transports, so that a bundle the API
# takes is one pct takes too.
_REFUSED_CHARS = frozenset(chr(c) for c in (*range(0x09), 0x0A, *range(0x10, 0x20), 0x7F))

# An init that makes the CT a system container as PVE knows it: no entrypoint needed.
SYSTEM_INITS = ("/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd")

# Mounts LXC sets up in every CT itself; the OCI default config lists them too.
_SYSTEM_MOUNT_TYPES = ("proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2")
_SYSTEM_MOUNT_DESTINATIONS = ("/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                              "/sys/fs/cgroup")

# Namespaces every Proxmox CT has; the OCI config must ask for each (else it wants
# the host's), and must not join an existing one.
_CT_NAMESPACES = ("network", "pid", "mount", "ipc", "uts")


class CtSpec:
    """What create passes to PVE: `options` (name -> value, PVE's own spelling) plus the
    init environment, which the two transports encode differently."""

    __slots__ = ("options", "env", "entrypoint")

    def __init__(self, options: Dict[str, Any], env: List[str],
                 entrypoint: Optional[List[str]]) -> None:
        self.options = options
        self.env = env                    # ["K=V", ...], empty for a system init
        self.entrypoint = entrypoint      # process.args, None for a system init

    def __repr__(self) -> str:
        return f"CtSpec(options={self.options!r}, env={self.env!r}, entrypoint={self.entrypoint!r})"


def _bad(config_path: str, field: str, what: str) -> InvalidBundle:
    return InvalidBundle(f"{config_path}: {field}: {what}")


def _int(value: Any, config_path: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(config_path, field, "must be an integer")
    return value


def hostname_for(config: Dict[str, Any], container_id: str, config_path: str) -> str:
    """config.hostname when set (it must be a DNS name PVE accepts), else one made from the id."""
    name = config.get("hostname")
    if name:
        if not isinstance(name, str) or not _is_dns_name(name):
            raise _bad(config_path, "hostname",
                       f"{name!r} is not a DNS name Proxmox accepts (letters, digits, '-', "
                       "labels of at most 63 characters separated by '.')")
        return name
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in container_id)
    cleaned = cleaned.strip("-")[:63].strip("-")
    return cleaned or "lxcri-ct"


def _is_dns_name(name: str) -> bool:
    if len(name) > 255:
        return False
    for label in name.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in label):
            return False
    return True


def shares_to_cpuunits(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) -> cgroup v2 cpu.weight (1..10000), which is what
    `cpuunits` sets on PVE 7+ (pure cgroup v2): the conversion crun and runc use."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def _cpuset_count(cpus: str, config_path: str, field: str) -> int:
    total = 0
    try:
        for part in cpus.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part:
                lo, hi = part.split("-", 1)
                if int(hi) < int(lo):
                    raise ValueError(part)
                total += int(hi) - int(lo) + 1
            else:
                int(part)
                total += 1
    except ValueError:
        raise _bad(config_path, field,
                   f"{cpus!r} is not a CPU list such as \"0-3\" or \"0,2\"") from None
    if not 1 <= total <= PVE_MAX_CORES:
        raise _bad(config_path, field, f"{cpus!r} names {total} CPUs; a Proxmox CT has 1 to "
                   f"{PVE_MAX_CORES} cores")
    return total


def resource_options(resources: Dict[str, Any], config_path: str,
                     field: str = "linux.resources") -> Dict[str, Any]:
    """The memory/swap/cores/cpulimit/cpuunits options for an OCI LinuxResources object;
    used at create and by `update`. Unlimited values are left out (PVE's default applies)."""
    out: Dict[str, Any] = {}
    if not isinstance(resources, dict):
        raise _bad(config_path, field, "must be an object")
    memory = resources.get("memory") or {}
    limit = memory.get("limit")
    if limit is not None and _int(limit, config_path, f"{field}.memory.limit") >= 0:
        mib = -(-limit // MIB)  # round up: never give the CT less than it asked for
        if mib < PVE_MIN_MEMORY_MIB:
            raise _bad(config_path, f"{field}.memory.limit",
                       f"{limit} bytes is below Proxmox's minimum of {PVE_MIN_MEMORY_MIB} MiB")
        out["memory"] = mib
    swap = memory.get("swap")
    if swap is not None and _int(swap, config_path, f"{field}.memory.swap") >= 0:
        # OCI's swap is memory+swap (cgroup v1 memsw); PVE's `swap` is the swap alone.
        if limit is None or limit < 0:
            raise _bad(config_path, f"{field}.memory.swap",
                       "a swap limit needs memory.limit too (OCI's swap counts memory plus swap)")
        if swap < limit:
            raise _bad(config_path, f"{field}.memory.swap",
                       "must be at least memory.limit (it counts memory plus swap)")
        out["swap"] = (swap - limit) // MIB
    cpu = resources.get("cpu") or {}
    cpus = cpu.get("cpus")
    if cpus:
        if not isinstance(cpus, str):
            raise _bad(config_path, f"{field}.cpu.cpus", "must be a string such as \"0-3\"")
        out["cores"] = _cpuset_count(cpus, config_path, f"{field}.cpu.cpus")
    quota, period = cpu.get("quota"), cpu.get("period")
    if quota is not None and _int(quota, config_path, f"{field}.cpu.quota") > 0:
        period = 100000 if period is None else _int(period, config_path, f"{field}.cpu.period")
        if period <= 0:
            raise _bad(config_path, f"{field}.cpu.period", "must be positive")
        # PVE keeps cpulimit to two decimals; round up so the CT keeps what it asked for.
        cpulimit = -(-quota * 100 // period) / 100
        if cpulimit > PVE_MAX_CPULIMIT:
            raise _bad(config_path, f"{field}.cpu.quota",
                       f"{quota} per period {period} is {cpulimit:g} CPUs' worth of time, above "
                       f"Proxmox's cpulimit maximum of {PVE_MAX_CPULIMIT}")
        out["cpulimit"] = cpulimit
    shares = cpu.get("shares")
    if shares is not None and _int(shares, config_path, f"{field}.cpu.shares") > 0:
        out["cpuunits"] = shares_to_cpuunits(shares)
    return out


def _mount_points(mounts: Any, config_path: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    if not isinstance(mounts, list):
        raise _bad(config_path, "mounts", "must be an array")
    for i, mount in enumerate(mounts):
        where = f"mounts[{i}]"
        if not isinstance(mount, dict):
            raise _bad(config_path, where, "must be an object")
        dest = mount.get("destination")
        kind = mount.get("type") or ""
        options = mount.get("options") or []
        if kind in _SYSTEM_MOUNT_TYPES or dest in _SYSTEM_MOUNT_DESTINATIONS:
            continue  # LXC mounts these in every CT
        if kind != "bind" and "bind" not in options and "rbind" not in options:
            raise _bad(config_path, where,
                       f"a {kind or 'typeless'} mount at {dest} cannot become a Proxmox mount "
                       "point; only bind mounts (mpN) can")
        source = mount.get("source")
        for name, path in (("source", source), ("destination", dest)):
            if not isinstance(path, str) or not path.startswith("/"):
                raise _bad(config_path, f"{where}.{name}", "must be an absolute path")
            if "," in path or "=" in path or "\n" in path:
                raise _bad(config_path, f"{where}.{name}",
                           f"{path!r} holds ',', '=' or a newline, which a Proxmox mount point "
                           "string cannot carry")
            if "/../" in path + "/" or "/./" in path + "/":
                raise _bad(config_path, f"{where}.{name}", "must not contain '.' or '..' parts")
        if len(out) == PVE_MAX_MOUNT_POINTS:
            raise _bad(config_path, where,
                       f"Proxmox CTs have at most {PVE_MAX_MOUNT_POINTS} mount points")
        value = f"{source},mp={dest}"
        if "ro" in options:
            value += ",ro=1"
        out[f"mp{len(out)}"] = value
    return out


def _check_namespaces(linux: Dict[str, Any], config_path: str) -> None:
    namespaces = linux.get("namespaces")
    if namespaces is None:
        return
    if not isinstance(namespaces, list):
        raise _bad(config_path, "linux.namespaces", "must be an array")
    present = set()
    for i, ns in enumerate(namespaces):
        if not isinstance(ns, dict):
            raise _bad(config_path, f"linux.namespaces[{i}]", "must be an object")
        if ns.get("path"):
            raise _bad(config_path, f"linux.namespaces[{i}].path",
                       "a Proxmox CT cannot join an existing namespace")
        present.add(ns.get("type"))
    for ns_type in _CT_NAMESPACES:
        if ns_type not in present:
            raise _bad(config_path, "linux.namespaces",
                       f"no {ns_type} namespace: a Proxmox CT always has its own, so it cannot "
                       f"share the host's; add {{\"type\": \"{ns_type}\"}}")


def _refuse_unless_empty(config: Dict[str, Any], config_path: str) -> None:
    linux = config.get("linux") or {}
    for field, value, why in (
        ("hooks", config.get("hooks"), "Proxmox runs no OCI hooks"),
        ("linux.devices", linux.get("devices"), "pass devices to a CT in its PVE config (devN)"),
        ("linux.sysctl", linux.get("sysctl"), "Proxmox CTs take no sysctl settings"),
    ):
        if value:
            raise _bad(config_path, field, f"cannot be honoured by a Proxmox CT: {why}")


def ct_spec(config: Dict[str, Any], config_path: str, *, container_id: str, bundle: str,
            network: str, unprivileged: bool, storage: str, rootfs_size: int,
            pve_version: Optional[Tuple[int, ...]] = None) -> CtSpec:
    """The PVE create options for a bundle's parsed config.json.

    pve_version: the cluster's release when known (the API path asks /version); a
    command other than the system init needs PVE >= 9.1's `entrypoint`.
    """
    process = config.get("process") or {}
    if not isinstance(process, dict):
        raise _bad(config_path, "process", "must be an object")
    if process.get("terminal"):
        raise _bad(config_path, "process.terminal",
                   "a Proxmox CT has no console lxcri could hand to the engine; set it to false")
    linux = config.get("linux") or {}
    _check_namespaces(linux, config_path)
    _refuse_unless_empty(config, config_path)

    options: Dict[str, Any] = {
        "hostname": hostname_for(config, container_id, config_path),
        "ostype": "unmanaged",  # PVE must not try to set up an OCI rootfs as a distribution
        "unprivileged": 1 if unprivileged else 0,
        "rootfs": f"{storage}:{rootfs_size}",
        "net0": network,
        "tags": "lxcri",
        "description": description_for(container_id, bundle),
    }
    options.update(resource_options(linux.get("resources") or {}, config_path))
    options.update(_mount_points(config.get("mounts") or [], config_path))

    args = process.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise _bad(config_path, "process.args", "must be an array of strings")
    if not args or (args[0] in SYSTEM_INITS and len(args) == 1):
        return CtSpec(options, [], None)
    if pve_version is not None and tuple(pve_version[:2]) < ENTRYPOINT_MIN_VERSION:
        shown = ".".join(str(p) for p in pve_version)
        raise _bad(config_path, "process.args",
                   f"running {args[0]!r} instead of the system init needs Proxmox VE >= 9.1 "
                   f"(its `entrypoint` option); this cluster runs {shown}")
    env = process.get("env") or []
    if not isinstance(env, list) or not all(isinstance(e, str) and "=" in e for e in env):
        raise _bad(config_path, "process.env", "must be an array of \"NAME=value\" strings")
    for i, item in enumerate(env):
        name = item.split("=", 1)[0]
        # PVE's `env` pattern takes \w+ names; ASCII is what it and POSIX shells share.
        if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
            raise _bad(config_path, f"process.env[{i}]",
                       f"{name!r} is not a variable name a Proxmox CT's environment can carry "
                       "(letters, digits and '_')")
        _refuse_control_chars(item, config_path, f"process.env[{i}]", "environment")
    for i, arg in enumerate(args):
        _refuse_control_chars(arg, config_path, f"process.args[{i}]", "`entrypoint`")
    return CtSpec(options, list(env), list(args))


def _refuse_control_chars(text: str, config_path: str, field: str, what: str) -> None:
    for ch in text:
        if ch in _REFUSED_CHARS:
            raise _bad(config_path, field, f"holds the control character {ch!r}, which a "
                       f"Proxmox CT's {what} cannot carry")


def description_for(container_id: str, bundle: str) -> str:
    """The CT's description (its Notes in the PVE GUI): what made it, and how to remove it.
    Also the marker lxcri checks before it stops or destroys a VMID, so that a VMID reused
    by another guest is never touched."""
    return (f"{marker_for(container_id)} bundle {bundle}. Managed by lxcri: "
            f"remove it with `lxcri delete {container_id}`.")


def marker_for(container_id: str) -> str:
    return f"lxcri container {container_id};"
