"""The OCI config.json -> LXC configuration mapping of the lxc backend (pure, no root needed).

`lxc_config(spec, ...)` turns a parsed config.json into LXC config items (key,
value) and the shell lines of a mount hook, or raises InvalidBundle naming the
config.json field it cannot honour: a field LXC would silently drop must fail
instead, so a container never runs with less isolation than its spec asked for.

Which cgroup keys to write depends on where each controller lives. liblxc applies
`lxc.cgroup.*` keys to cgroup v1 hierarchies and `lxc.cgroup2.*` keys to the
unified one, and silently ignores a key aimed at the wrong one; on a hybrid host
(this one: memory, cpu, pids on v1) the choice is per controller: callers pass
lxcri.host.cgroups.hierarchies() as `layout`.

Only the standard library is used, and nothing at import time beyond `os`.
"""
from __future__ import annotations

import os

from lxcri.errors import InvalidBundle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

    Items = List[Tuple[str, str]]

# Every capability LXC knows by name (lxc.cap.keep takes them lower-case, no CAP_).
_CAPS = (
    "chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
    "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner "
    "sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice "
    "sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap "
    "mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf "
    "checkpoint_restore").split()

# OCI namespace type -> LXC's name for it (lxc.namespace.clone/keep/share.*).
_NAMESPACES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
               "user": "user", "cgroup": "cgroup", "time": "time"}

_RLIMITS = ("as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio "
            "rttime sigpending stack").split()

# Devices every OCI runtime allows on top of the config's rules (runtime-spec: "default devices").
_DEFAULT_DEVICE_RULES = ("c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                         "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm")

_MOUNT_TYPES = ("bind", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "none")

# Paths maskedPaths/readonlyPaths may name: freshly mounted kernel filesystems, where a
# hostile rootfs cannot plant a symlink that the hook (run before pivot_root) would follow.
_HOOK_PATH_PREFIXES = ("/proc/", "/sys/")


def _bad(field: str, what: str) -> InvalidBundle:
    return InvalidBundle(f"config.json: {field}: {what}")


class _Resources:
    """Collects cgroup items for linux.resources, on v1 or v2 per controller."""

    def __init__(self, layout: Dict[str, int], items: Items) -> None:
        self.layout = layout
        self.items = items

    def put(self, field: str, controller: str, v1: Optional[str], v2: Optional[str],
            value: Any) -> None:
        where = self.layout.get(controller)
        if where is None:
            raise _bad(field, f"the {controller} cgroup controller is not available on this "
                              "host; remove the setting or enable the controller")
        key = v1 if where == 1 else v2
        if key is None:
            raise _bad(field, f"cannot be honoured: the {controller} controller is on cgroup "
                              f"v{where} here, which has no such setting; remove it")
        prefix = "lxc.cgroup." if where == 1 else "lxc.cgroup2."
        self.items.append((prefix + key, str(value)))


def _int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(field, "must be an integer")
    return value


def _resources(res: Dict[str, Any], layout: Dict[str, int], items: Items) -> None:
    out = _Resources(layout, items)
    known = {"memory", "cpu", "pids", "devices"}
    for key, value in res.items():
        if key not in known and value not in (None, [], {}):
            raise _bad(f"linux.resources.{key}", "the lxc backend does not support this "
                       "resource limit; remove it or run the container with --runtime crun")
    mem = res.get("memory") or {}
    for key in mem:
        f = f"linux.resources.memory.{key}"
        v = mem[key]
        if key == "limit":
            out.put(f, "memory", "memory.limit_in_bytes", "memory.max",
                    "max" if _int(f, v) < 0 and layout.get("memory") == 2 else _int(f, v))
        elif key == "reservation":
            out.put(f, "memory", "memory.soft_limit_in_bytes", "memory.low", _int(f, v))
        elif key == "swap":
            if layout.get("memory") == 2:
                limit = mem.get("limit")
                if _int(f, v) < 0:
                    out.put(f, "memory", None, "memory.swap.max", "max")
                elif not isinstance(limit, int) or limit < 0:
                    raise _bad(f, "on cgroup v2 a swap limit needs memory.limit too")
                else:  # OCI's swap is memory+swap; v2's swap.max is swap alone
                    out.put(f, "memory", None, "memory.swap.max", max(v - limit, 0))
            else:
                out.put(f, "memory", "memory.memsw.limit_in_bytes", None, _int(f, v))
        elif key == "swappiness":
            out.put(f, "memory", "memory.swappiness", None, _int(f, v))
        elif key == "disableOOMKiller":
            if v:
                out.put(f, "memory", "memory.oom_control", None, 1)
        elif key in ("useHierarchy", "checkBeforeUpdate") and not v:
            continue
        else:
            raise _bad(f, "the lxc backend does not support this setting; remove it")
    cpu = res.get("cpu") or {}
    for key in cpu:
        f = f"linux.resources.cpu.{key}"
        v = cpu[key]
        if key == "shares":
            n = _int(f, v)
            out.put(f, "cpu", "cpu.shares", "cpu.weight", n if layout.get("cpu") == 1
                    else 1 + ((max(2, min(n, 262144)) - 2) * 9999) // 262142)
        elif key == "quota":
            period = cpu.get("period") or 100000
            if layout.get("cpu") == 2:
                q = _int(f, v)
                out.put(f, "cpu", None, "cpu.max", f"{'max' if q < 0 else q} {period}")
            else:
                out.put(f, "cpu", "cpu.cfs_quota_us", None, _int(f, v))
        elif key == "period":
            if layout.get("cpu") == 1:
                out.put(f, "cpu", "cpu.cfs_period_us", None, _int(f, v))
            elif "quota" not in cpu:
                out.put(f, "cpu", None, "cpu.max", f"max {_int(f, v)}")
        elif key in ("cpus", "mems"):
            if not isinstance(v, str):
                raise _bad(f, "must be a string such as \"0-1\"")
            if v:
                out.put(f, "cpuset", f"cpuset.{key}", f"cpuset.{key}", v)
        elif key == "realtimeRuntime":
            out.put(f, "cpu", "cpu.rt_runtime_us", None, _int(f, v))
        elif key == "realtimePeriod":
            out.put(f, "cpu", "cpu.rt_period_us", None, _int(f, v))
        else:
            raise _bad(f, "the lxc backend does not support this setting; remove it")
    pids = res.get("pids") or {}
    for key in pids:
        f = f"linux.resources.pids.{key}"
        if key != "limit":
            raise _bad(f, "the lxc backend does not support this setting; remove it")
        n = _int(f, pids[key])
        out.put(f, "pids", "pids.max", "pids.max", "max" if n <= 0 else n)
    devices = res.get("devices")
    if devices:
        for i, rule in enumerate(devices):
            out.put(f"linux.resources.devices[{i}]", "devices",
                    "devices.allow" if rule.get("allow") else "devices.deny",
                    "devices.allow" if rule.get("allow") else "devices.deny",
                    _device_rule(f"linux.resources.devices[{i}]", rule))
        for rule_text in _DEFAULT_DEVICE_RULES:
            out.put("linux.resources.devices", "devices", "devices.allow", "devices.allow",
                    rule_text)


def _device_rule(field: str, rule: Dict[str, Any]) -> str:
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise _bad(f"{field}.type", "must be \"a\", \"b\" or \"c\"")
    access = rule.get("access") or "rwm"
    if not access or any(ch not in "rwm" for ch in access):
        raise _bad(f"{field}.access", "must be made of r, w and m")
    if kind == "a" and rule.get("major") is None and rule.get("minor") is None:
        return "a"
    major = "*" if rule.get("major") in (None, -1) else str(_int(f"{field}.major", rule["major"]))
    minor = "*" if rule.get("minor") in (None, -1) else str(_int(f"{field}.minor", rule["minor"]))
    return f"{kind} {major}:{minor} {access}"


# --- process -------------------------------------------------------------------

def _line_value(field: str, value: Any) -> str:
    """A value that goes on one line of an LXC config file."""
    if not isinstance(value, str):
        raise _bad(field, "must be a string")
    if "\n" in value or "\r" in value or "\0" in value:
        raise _bad(field, "must not contain a newline or NUL (LXC's config is line-based)")
    return value


def _caps(process: Dict[str, Any], uid: int, items: Items) -> None:
    caps = process.get("capabilities")
    if caps is None:
        return
    if not isinstance(caps, dict):
        raise _bad("process.capabilities", "must be an object")

    def names(kind: str) -> Optional[List[str]]:
        value = caps.get(kind)
        if value is None:
            return None
        out = []
        for i, cap in enumerate(value):
            name = cap.lower()[4:] if isinstance(cap, str) and cap.upper().startswith("CAP_") else ""
            if name not in _CAPS:
                raise _bad(f"process.capabilities.{kind}[{i}]", f"unknown capability {cap!r}")
            out.append(name)
        return out

    bounding = names("bounding")
    sets = {k: names(k) for k in ("effective", "permitted", "inheritable", "ambient")}
    if bounding is None:
        bounding = list(_CAPS)
    bset = set(bounding)
    for kind, value in sets.items():
        if value is None:
            continue
        if uid == 0 and kind in ("effective", "permitted") and set(value) != bset:
            raise _bad(f"process.capabilities.{kind}", "the lxc backend gives a root process "
                       "every capability of its bounding set: make this equal to bounding")
        if uid == 0 and kind == "ambient" and not set(value) <= bset:
            raise _bad("process.capabilities.ambient", "must be a subset of bounding")
        if kind == "inheritable" and value:
            raise _bad("process.capabilities.inheritable", "the lxc backend cannot set "
                       "inheritable capabilities; make it empty")
        if uid != 0 and kind != "inheritable" and value:
            raise _bad(f"process.capabilities.{kind}", "the lxc backend cannot give "
                       "capabilities to a non-root process; make it empty or run as uid 0")
    if bset != set(_CAPS):
        items.append(("lxc.cap.keep", " ".join(sorted(bset)) if bset else "none"))


def _process(process: Dict[str, Any], items: Items) -> None:
    if process.get("terminal"):
        raise _bad("process.terminal", "the lxc backend cannot give the container a terminal "
                   "yet; set it to false")
    env = process.get("env") or []
    for i, entry in enumerate(env):
        value = _line_value(f"process.env[{i}]", entry)
        if "=" not in value:
            raise _bad(f"process.env[{i}]", "must be NAME=value")
        items.append(("lxc.environment", value))
    cwd = process.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise _bad("process.cwd", "must be an absolute path")
    items.append(("lxc.init.cwd", _line_value("process.cwd", cwd)))
    user = process.get("user") or {}
    uid = _int("process.user.uid", user.get("uid", 0))
    gid = _int("process.user.gid", user.get("gid", 0))
    items.append(("lxc.init.uid", str(uid)))
    items.append(("lxc.init.gid", str(gid)))
    groups = user.get("additionalGids") or []
    if groups:
        items.append(("lxc.init.groups",
                      ",".join(str(_int(f"process.user.additionalGids[{i}]", g))
                               for i, g in enumerate(groups))))
    if user.get("umask") not in (None, 0o22):
        raise _bad("process.user.umask", "the lxc backend cannot set a umask other than 0022")
    if user.get("username"):
        raise _bad("process.user.username", "is for Windows containers; use uid and gid")
    _caps(process, uid, items)
    for i, rl in enumerate(process.get("rlimits") or []):
        f = f"process.rlimits[{i}]"
        kind = rl.get("type", "")
        name = kind[7:].lower() if isinstance(kind, str) and kind.startswith("RLIMIT_") else ""
        if name not in _RLIMITS:
            raise _bad(f"{f}.type", f"unknown resource limit {kind!r}")
        soft, hard = _int(f"{f}.soft", rl.get("soft")), _int(f"{f}.hard", rl.get("hard"))
        items.append((f"lxc.prlimit.{name}", f"{_rlimit(soft)}:{_rlimit(hard)}"))
    if process.get("noNewPrivileges"):
        items.append(("lxc.no_new_privs", "1"))
    if process.get("apparmorProfile"):
        items.append(("lxc.apparmor.profile",
                      _line_value("process.apparmorProfile", process["apparmorProfile"])))
    if process.get("selinuxLabel"):
        items.append(("lxc.selinux.context",
                      _line_value("process.selinuxLabel", process["selinuxLabel"])))
    if process.get("oomScoreAdj") is not None:
        items.append(("lxc.proc.oom_score_adj", str(_int("process.oomScoreAdj",
                                                         process["oomScoreAdj"]))))
    for key in ("ioPriority", "scheduler", "execCPUAffinity"):
        if process.get(key):
            raise _bad(f"process.{key}", "the lxc backend does not support this setting; "
                       "remove it")


def _rlimit(n: int) -> str:
    return "unlimited" if n < 0 or n >= 2**64 - 1 else str(n)


# --- mounts --------------------------------------------------------------------

def _fstab_escape(text: str) -> str:
    """fstab escapes, as LXC's mount entry parser (getmntent) decodes them."""
    out = []
    for ch in text:
        if ch in " \t\n\\":
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def _mounts(spec: Dict[str, Any], rootfs: str, items: Items,
            is_dir: Callable[[str], Optional[bool]]) -> None:
    readonly_root = bool((spec.get("root") or {}).get("readonly"))
    autodev = False
    cgroup_mount = None
    for i, m in enumerate(spec.get("mounts") or []):
        f = f"mounts[{i}]"
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest.startswith("/"):
            raise _bad(f"{f}.destination", "must be an absolute path")
        dest = os.path.normpath(dest)
        if dest == "/":
            raise _bad(f"{f}.destination", "cannot mount over the container's root")
        opts = list(m.get("options") or [])
        for j, o in enumerate(opts):
            _line_value(f"{f}.options[{j}]", o)
            if "," in o:
                raise _bad(f"{f}.options[{j}]", "one option per array item")
        kind = m.get("type") or ("bind" if {"bind", "rbind"} & set(opts) else "")
        if kind not in _MOUNT_TYPES:
            raise _bad(f"{f}.type", f"the lxc backend does not mount {kind!r} filesystems; "
                       f"use one of {', '.join(_MOUNT_TYPES[:-1])}")
        if kind == "none" and not {"bind", "rbind"} & set(opts):
            raise _bad(f"{f}.type", "\"none\" is only valid with the bind or rbind option")
        if kind == "tmpfs" and dest == "/dev":
            autodev = True  # LXC mounts a tmpfs on /dev and makes the standard nodes
            continue
        if kind == "devpts" and dest == "/dev/pts":
            continue  # LXC mounts a private devpts instance there itself
        if kind == "cgroup":
            if dest != "/sys/fs/cgroup":
                raise _bad(f"{f}.destination", "the lxc backend mounts cgroups only at "
                           "/sys/fs/cgroup")
            cgroup_mount = "cgroup:ro" if "ro" in opts else "cgroup:rw"
            continue
        source = m.get("source", kind)
        if not isinstance(source, str) or not source:
            raise _bad(f"{f}.source", "must be a non-empty string")
        source = _line_value(f"{f}.source", source)
        rel = dest.lstrip("/")
        target = os.path.join(rootfs, rel)
        if kind in ("bind", "none"):
            if not source.startswith("/"):
                raise _bad(f"{f}.source", "a bind mount's source must be an absolute path")
            src_is_dir = is_dir(source)
            if src_is_dir is None:
                raise _bad(f"{f}.source", f"{source} does not exist; create it first")
            if "bind" not in opts and "rbind" not in opts:
                opts.insert(0, "bind")
            fstype = "none"
        else:
            src_is_dir = True
            fstype = kind
        if dest.startswith("/dev/") and autodev:
            opts.append("create=dir" if src_is_dir else "create=file")  # on LXC's /dev tmpfs
        elif not os.path.lexists(target):
            if readonly_root:
                raise _bad(f"{f}.destination", f"{dest} does not exist in the read-only rootfs; "
                           "create it in the rootfs first")
            opts.append("create=dir" if src_is_dir else "create=file")
        entry = " ".join((_fstab_escape(source), _fstab_escape(rel), fstype,
                          ",".join(opts) or "defaults", "0", "0"))
        items.append(("lxc.mount.entry", entry))
    items.append(("lxc.autodev", "1" if autodev else "0"))
    if cgroup_mount:
        items.append(("lxc.mount.auto", cgroup_mount))


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _mask_hook_lines(linux: Dict[str, Any]) -> List[str]:
    """Shell lines for maskedPaths/readonlyPaths, run by the mount hook (see module doc)."""
    lines = []
    for key, fn in (("maskedPaths", "lxcri_mask"), ("readonlyPaths", "lxcri_ro")):
        for i, path in enumerate(linux.get(key) or []):
            f = f"linux.{key}[{i}]"
            if not isinstance(path, str) or not path.startswith(_HOOK_PATH_PREFIXES) \
                    or os.path.normpath(path) != path:
                raise _bad(f, "the lxc backend masks or protects only normalized paths under "
                           "/proc and /sys")
            lines.append(f"{fn} {_shell_quote(_line_value(f, path))}")
    return lines


MOUNT_HOOK_HEAD = """#!/bin/sh
# lxcri: linux.maskedPaths and linux.readonlyPaths of the bundle's config.json,
# applied in the container's mount namespace before pivot_root.
set -e
r="$LXC_ROOTFS_MOUNT"
lxcri_mask() {
    if [ -d "$r$1" ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec,size=0 tmpfs "$r$1"
    elif [ -e "$r$1" ]; then mount --bind /dev/null "$r$1"; fi
}
lxcri_ro() {
    [ -e "$r$1" ] || return 0
    mount --bind "$r$1" "$r$1"
    mount -o remount,bind,ro,nosuid,nodev,noexec "$r$1"
}
"""


# --- namespaces ----------------------------------------------------------------

def _namespaces(linux: Dict[str, Any], spec: Dict[str, Any], items: Items) -> None:
    present: Dict[str, Optional[str]] = {}
    for i, ns in enumerate(linux.get("namespaces") or []):
        kind = ns.get("type")
        if kind not in _NAMESPACES:
            raise _bad(f"linux.namespaces[{i}].type", f"unknown namespace type {kind!r}")
        if kind in present:
            raise _bad(f"linux.namespaces[{i}]", f"the {kind} namespace is listed twice")
        path = ns.get("path") or None
        if path is not None:
            path = _line_value(f"linux.namespaces[{i}].path", path)
            if kind in ("mount", "user"):
                raise _bad(f"linux.namespaces[{i}].path", f"the lxc backend cannot join an "
                           f"existing {kind} namespace; remove the path")
        present[kind] = path
    if "mount" not in present:
        raise _bad("linux.namespaces", "the lxc backend always gives a container its own "
                   "mount namespace: add {\"type\": \"mount\"}")
    # lxc.namespace.clone lists exactly the namespaces LXC creates (it excludes
    # lxc.namespace.keep): every other one is the host's, or joined through share.
    clone = ["mnt"]
    for kind, lxc_name in _NAMESPACES.items():
        if kind == "mount" or kind not in present:
            if kind == "network":
                items.append(("lxc.net.0.type", "none"))  # the host's network
            continue
        if present[kind] is None:
            clone.append(lxc_name)
            if kind == "network":
                items.append(("lxc.net.0.type", "empty"))  # loopback only
        else:
            if kind == "network":
                items.append(("lxc.net.0.type", "empty"))
            items.append((f"lxc.namespace.share.{lxc_name}", present[kind] or ""))
    items.append(("lxc.namespace.clone", " ".join(clone)))
    if spec.get("hostname"):
        if "uts" not in present:
            raise _bad("hostname", "setting a hostname needs a uts namespace: add "
                       "{\"type\": \"uts\"} to linux.namespaces or remove hostname")
        items.append(("lxc.uts.name", _line_value("hostname", spec["hostname"])))
    if spec.get("domainname"):
        raise _bad("domainname", "the lxc backend cannot set a NIS domain name; remove it")
    uid_maps = linux.get("uidMappings") or []
    gid_maps = linux.get("gidMappings") or []
    if "user" in present:
        if not uid_maps or not gid_maps:
            raise _bad("linux.uidMappings", "a user namespace needs uidMappings and gidMappings")
        for key, kind, maps in (("linux.uidMappings", "u", uid_maps),
                                ("linux.gidMappings", "g", gid_maps)):
            for i, m in enumerate(maps):
                f = f"{key}[{i}]"
                items.append(("lxc.idmap", f"{kind} {_int(f + '.containerID', m.get('containerID'))} "
                              f"{_int(f + '.hostID', m.get('hostID'))} {_int(f + '.size', m.get('size'))}"))
    elif uid_maps or gid_maps:
        raise _bad("linux.uidMappings", "id mappings need a user namespace: add "
                   "{\"type\": \"user\"} to linux.namespaces")


# --- the whole spec ------------------------------------------------------------

def _host_is_dir(path: str) -> Optional[bool]:
    """True for a directory, False for another file, None when missing (follows symlinks)."""
    try:
        import stat

        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return None


def lxc_config(spec: Dict[str, Any], *, rootfs: str, state_dir: str,
               layout: Dict[str, int], is_dir: Callable[[str], Optional[bool]] = _host_is_dir,
               debug: bool = False) -> Tuple[Items, List[str]]:
    """The LXC config items for `spec` and the mask-hook lines (empty: no mount hook).

    rootfs: the bundle's rootfs (absolute), never owned or removed by LXC;
    state_dir: the container's directory under the LXC lxcpath (log, hooks);
    layout: lxcri.host.cgroups.hierarchies() of the host.
    Raises InvalidBundle naming the config.json field that cannot be honoured.
    """
    items: Items = []
    if not isinstance(spec, dict):
        raise _bad("$", "must be an object")
    root = spec.get("root") or {}
    rootfs = _line_value("root.path", rootfs)
    items.append(("lxc.rootfs.path", f"dir:{rootfs}"))
    items.append(("lxc.rootfs.managed", "0"))  # LXC never deletes or changes the bundle's rootfs
    rootfs_options = ["ro"] if root.get("readonly") else []
    items.append(("lxc.console.path", "none"))  # the container's stdio is the caller's
    items.append(("lxc.tty.max", "0"))
    items.append(("lxc.pty.max", "1024"))
    items.append(("lxc.log.file", os.path.join(state_dir, "lxc.log")))
    items.append(("lxc.log.level", "DEBUG" if debug else "ERROR"))
    for key in ("hooks", "solaris", "windows", "vm", "zos"):
        if spec.get(key):
            raise _bad(key, "the lxc backend does not support this section; remove it "
                       "or run the container with --runtime crun")
    process = spec.get("process")
    if not isinstance(process, dict) or not process.get("args"):
        raise _bad("process.args", "the lxc backend needs a process to run")
    _process(process, items)
    linux = spec.get("linux") or {}
    _namespaces(linux, spec, items)
    _mounts(spec, rootfs, items, is_dir)
    _resources(linux.get("resources") or {}, layout, items)
    for key, value in (linux.get("sysctl") or {}).items():
        items.append((f"lxc.sysctl.{_line_value('linux.sysctl', key)}",
                      _line_value(f"linux.sysctl.{key}", value)))
    for key in ("devices", "seccomp", "intelRdt", "personality", "mountLabel", "timeOffsets",
                "memoryPolicy"):
        if linux.get(key):
            raise _bad(f"linux.{key}", "the lxc backend does not support this setting yet; "
                       "remove it or run the container with --runtime crun")
    propagation = linux.get("rootfsPropagation")
    if propagation:
        if propagation not in ("private", "rprivate", "slave", "rslave", "shared", "rshared"):
            raise _bad("linux.rootfsPropagation", f"unknown propagation {propagation!r}")
        rootfs_options.append(propagation)
    if rootfs_options:
        items.append(("lxc.rootfs.options", ",".join(rootfs_options)))
    if linux.get("cgroupsPath"):
        path = _line_value("linux.cgroupsPath", linux["cgroupsPath"])
        if ":" in path:
            raise _bad("linux.cgroupsPath", "systemd slice:prefix:name paths need the systemd "
                       "cgroup manager, which the lxc backend does not use")
        items.append(("lxc.cgroup.dir", path.strip("/")))
    return items, _mask_hook_lines(linux)


def render(items: Items) -> str:
    """The text of an LXC config file holding `items`, in order."""
    return "".join(f"{key} = {value}\n" for key, value in items)
