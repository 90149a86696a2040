"""What `lxcri info` reports: versions, the libcrun loaded and what it links, backends,
cgroup mode, config file, routing, state root.

This is lxcri's dependency check: it says which backends can run here and why
the others cannot, and spots the cgroup layout libcrun refuses (hybrid v1+v2 with
controllers enabled on v2) together with the command that fixes it.
"""
from __future__ import annotations

import os

from lxcri.backends import RuntimeType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from lxcri.runtime import Runtime

CGROUP_ROOT = "/sys/fs/cgroup"

# auditwheel renames each library it grafts into lxcri.libs/ to NAME-<8 hex>.so.VERSION
# (the hash of its content), and rewrites DT_NEEDED to match.
_GRAFT_HASH_LEN = 8


def library_name(file_name: str) -> str:
    """A library's name without the hash auditwheel gives a grafted copy:
    libyajl-86865dfa.so.2.1.0 -> libyajl.so.2.1.0 (other names unchanged)."""
    stem, sep, rest = file_name.partition(".so")
    head, dash, digest = stem.rpartition("-")
    if sep and dash and len(digest) == _GRAFT_HASH_LEN and all(
            c in "0123456789abcdef" for c in digest):
        return head + sep + rest
    return file_name


def elf_needed(path: str) -> Optional[List[str]]:
    """The DT_NEEDED entries of an ELF file, in order; None when it is not a readable ELF."""
    import struct

    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
            return None
        e = "<" if data[5] == 1 else ">"
        if data[4] == 2:  # ELFCLASS64
            (shoff,), (shentsize, shnum) = (struct.unpack_from(e + "Q", data, 0x28),
                                            struct.unpack_from(e + "HH", data, 0x3A))
            sh_fmt, dyn_fmt = e + "IIQQQQIIQQ", e + "qQ"
        else:
            (shoff,), (shentsize, shnum) = (struct.unpack_from(e + "I", data, 0x20),
                                            struct.unpack_from(e + "HH", data, 0x2E))
            sh_fmt, dyn_fmt = e + "IIIIIIIIII", e + "iI"
        # section header: name, type, flags, addr, offset, size, link, ...
        sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
        dynamic = next((sh for sh in sections if sh[1] == 6), None)  # SHT_DYNAMIC
        if dynamic is None:
            return []
        strings = sections[dynamic[6]][4]
        needed, step = [], struct.calcsize(dyn_fmt)
        for off in range(dynamic[4], dynamic[4] + dynamic[5] - step + 1, step):
            tag, value = struct.unpack_from(dyn_fmt, data, off)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                start = strings + value
                needed.append(data[start:data.index(b"\0", start)].decode())
        return needed
    except (OSError, struct.error, IndexError, ValueError, UnicodeDecodeError):
        return None


def mapped_files(maps: str) -> List[str]:
    """The files mapped into a process, from /proc/PID/maps text, in first-seen order."""
    seen: Dict[str, None] = {}
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/"):
            seen.setdefault(fields[5].strip(), None)
    return list(seen)


def libcrun_libraries(maps: Optional[str] = None,
                      package_dir: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The libcrun loaded into this process and the libraries it links, resolved to the
    files the dynamic loader mapped; each marked `bundled` when it is one the lxcri wheel
    carries (lxcri/ or, grafted by auditwheel, lxcri.libs/) rather than the host's.
    None when no libcrun is loaded. maps: /proc/self/maps text (None: read it)."""
    if maps is None:
        try:
            with open("/proc/self/maps") as f:
                maps = f.read()
        except OSError:
            return None
    if package_dir is None:
        package_dir = os.path.dirname(os.path.abspath(__file__))
    carried = (package_dir, package_dir + ".libs")
    files = mapped_files(maps)
    libcrun = next((f for f in files
                    if library_name(os.path.basename(f)).startswith("libcrun.so")), None)
    if libcrun is None:
        return None

    def describe(name: str, path: Optional[str]) -> Dict[str, Any]:
        return {"name": library_name(os.path.basename(path or name)), "path": path,
                "bundled": path is not None and os.path.dirname(path) in carried}

    links = []
    for needed in elf_needed(libcrun) or []:
        # The loader maps the real file: the soname libyajl.so.2 shows as libyajl.so.2.1.0.
        path = next((f for f in files if os.path.basename(f) == needed
                     or os.path.basename(f).startswith(needed + ".")), None)
        links.append(describe(needed, path))
    return {**describe("libcrun.so.0", libcrun), "links": links}


def cgroup_layout(mountinfo: str, v2_controllers: Optional[str] = None) -> Dict[str, Any]:
    """The cgroup mode (v1, v2, hybrid), the controllers on each side and, when libcrun
    would refuse the layout, the problem and its fix.

    mountinfo: /proc/self/mountinfo's text; v2_controllers: the cgroup.controllers file
    of the v2 mount (None: read it from the mount found)."""
    from lxcri.host import cgroups, mountinfo as mountinfo_mod

    return cgroup_report(cgroups.layout(mountinfo_mod.parse(mountinfo), v2_controllers))


def cgroup_report(layout: Dict[str, Any]) -> Dict[str, Any]:
    """lxcri.host.cgroups.layout() plus, when libcrun would refuse it, the problem and its fix."""
    info = dict(layout)
    on_v2 = info.get("v2_controllers") or []
    if info.get("mode") == "hybrid" and on_v2:
        first = on_v2[0]
        info["problem"] = (f"hybrid cgroups with controllers enabled on v2 ({', '.join(on_v2)}): "
                           "libcrun (the crun backend) refuses to create containers")
        info["fix"] = " && ".join(
            f"mkdir -p {CGROUP_ROOT}/{c} && mount -t cgroup -o {c} cgroup {CGROUP_ROOT}/{c}"
            for c in on_v2)
        info["fix_note"] = (f"mounting each as a v1 hierarchy moves it off v2 (e.g. {first}); "
                            "Proxmox VE 7+ uses pure cgroup v2 and is not affected")
    return info


def host_cgroups() -> Dict[str, Any]:
    from lxcri.host import cgroups

    return cgroup_report(cgroups.host_layout())


def collect(rt: Runtime) -> Dict[str, Any]:
    """Everything `lxcri info` shows, as plain data (the JSON of `info --format json`)."""
    from lxcri import dispatch
    from lxcri._version import __version__
    from lxcri.config import BUILTIN_RULE, Rule, config_path
    from lxcri.errors import LxcriError

    info: Dict[str, Any] = {"lxcri": __version__, "state_root": rt.root}
    path, required = config_path(rt._config_path)
    config_doc: Dict[str, Any] = {"path": path, "present": os.path.exists(path),
                                  "source": "LXCRI_CONFIG" if required and not rt._config_path
                                  else ("argument" if rt._config_path else "default")}
    cfg = None
    try:
        cfg = rt.config()
        config_doc.update(cfg.to_dict())
        config_doc["path"] = path
    except LxcriError as exc:
        config_doc["error"] = exc.message
    info["config"] = config_doc

    problem = dispatch.embedded_crun_problem()
    if problem is None:
        from lxcri.backends.crun.backend import version_info

        crun = version_info()
        info["libcrun"] = crun["libcrun"]
        info["spec"] = crun["spec"]
        info["libcrun_library"] = libcrun_libraries()
    else:
        info["libcrun"] = None
        info["libcrun_library"] = None
    owners = rt._owners.all()
    runtimes = []
    for name in RuntimeType.ALL:
        options = cfg.options(name) if cfg is not None else {}
        ok, detail = dispatch.availability(name, options)
        count = sum(1 for owner in owners.values() if owner == name)
        runtimes.append({"name": name, "available": ok, "detail": detail, "containers": count})
    info["runtimes"] = runtimes

    routing: List[Dict[str, Any]] = [
        {"source": "--runtime NAME or $LXCRI_RUNTIME", "runtime": os.environ.get(
            dispatch.ENV_RUNTIME) or None},
        {"source": f"annotation {dispatch.ANNOTATION} in config.json", "runtime": None}]
    for rule in (cfg.rules if cfg is not None else []):
        routing.append({"source": f"{cfg.path}:{rule.line}" if cfg is not None else "",
                        "rule": rule.describe(), **rule.to_dict()})
    builtin = Rule(*BUILTIN_RULE)
    routing.append({"source": "built-in", "rule": f"id matches glob {builtin.pattern!r} -> "
                    f"{builtin.runtime}", **builtin.to_dict()})
    default = cfg.default_runtime if cfg is not None else RuntimeType.CRUN
    routing.append({"source": f"default_runtime ({cfg.path})" if cfg is not None and cfg.path
                    else "default", "runtime": default})
    info["routing"] = routing
    info["cgroups"] = host_cgroups()
    return info


def format_text(info: Dict[str, Any]) -> str:
    """`lxcri info` as text."""
    lines = [f"lxcri version {info['lxcri']}"]
    lines.append(f"libcrun version {info.get('libcrun') or 'unavailable'}")
    library = info.get("libcrun_library")
    if library:
        lines.append(f"libcrun library: {library['path']}"
                     + (" (carried by lxcri)" if library["bundled"] else ""))
        groups: Dict[str, List[str]] = {}
        for lib in library["links"]:
            groups.setdefault("carried" if lib["bundled"] else "host" if lib["path"]
                              else "not found", []).append(lib["name"])
        lines.append("libcrun links: " + "; ".join(
            f"{' '.join(names)} ({group})" for group, names in groups.items()))
    lines.append(f"state root: {info['state_root']}")
    cfg = info["config"]
    if cfg.get("error"):
        lines.append(f"config file: {cfg['path']} (ERROR: {cfg['error']})")
    elif cfg.get("present"):
        lines.append(f"config file: {cfg['path']}")
    else:
        lines.append(f"config file: {cfg['path']} (absent: built-in defaults)")
    lines.append("runtimes:")
    for r in info["runtimes"]:
        state = "available" if r["available"] else "unavailable"
        lines.append(f"  {r['name']:<5} {state:<12} {r['detail']}"
                     + (f" [{r['containers']} container(s)]" if r["containers"] else ""))
    lines.append("routing for create/run (first match wins):")
    for number, step in enumerate(info["routing"], 1):
        what = step.get("rule") or (f"-> {step['runtime']}" if step.get("runtime") else "")
        lines.append(f"  {number}. {step['source']}" + (f": {what}" if what else ""))
    cg = info["cgroups"]
    lines.append(f"cgroups: {cg.get('mode')}"
                 + (f"; v1: {' '.join(cg['v1_controllers'])}" if cg.get("v1_controllers") else "")
                 + (f"; v2: {' '.join(cg['v2_controllers']) or '(no controllers)'}"
                    if cg.get("v2_mount") else ""))
    if cg.get("problem"):
        lines.append(f"  PROBLEM: {cg['problem']}")
        lines.append(f"  fix: {cg['fix']}")
        lines.append(f"  ({cg['fix_note']})")
    return "\n".join(lines) + "\n"
