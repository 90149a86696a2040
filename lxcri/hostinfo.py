"""What `lxcri info` reports: versions, backends, cgroup mode, config file, routing, state root.

This is lxcri's dependency check: it says which backends can run here and why
the others cannot, and spots the cgroup layout libcrun refuses (hybrid v1+v2 with
controllers enabled on v2) together with the command that fixes it.
"""
from __future__ import annotations

import os

from lxcri.backends import RuntimeType
from lxcri.mountinfo import parse as parse_mounts
from lxcri.mountinfo import read as read_mountinfo
from lxcri.mountinfo import v2_controllers as read_v2_controllers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from lxcri.runtime import Runtime

CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_layout(mountinfo: str, v2_controllers: Optional[str] = None) -> Dict[str, Any]:
    """The cgroup mode (v1, v2, hybrid), the controllers on each side and, when libcrun
    would refuse the layout, the problem and its fix.

    mountinfo: /proc/self/mountinfo's text; v2_controllers: the cgroup.controllers file
    of the v2 mount (None: read it from the mount found)."""
    mounts = parse_mounts(mountinfo)
    top = next((fstype for point, fstype, _ in mounts if point == CGROUP_ROOT), None)
    v1 = sorted({opt for _, fstype, options in mounts if fstype == "cgroup" for opt in options
                 if opt not in ("rw", "ro", "relatime", "noexec", "nosuid", "nodev", "clone_children",
                                "noprefix", "xattr") and not opt.startswith("release_agent")})
    v2_mount = next((point for point, fstype, _ in mounts if fstype == "cgroup2"
                     and (point == CGROUP_ROOT or point.startswith(CGROUP_ROOT + "/"))), None)
    if top == "cgroup2":
        mode = "v2"
    elif v2_mount is not None and v1:
        mode = "hybrid"
    elif v1:
        mode = "v1"
    elif v2_mount is not None:
        mode = "v2"
    else:
        mode = "none"
    if v2_controllers is None and v2_mount is not None:
        v2_controllers = read_v2_controllers(mounts) or ""
    on_v2 = sorted((v2_controllers or "").split())
    info: Dict[str, Any] = {"mode": mode, "v1_controllers": v1, "v2_controllers": on_v2,
                            "v2_mount": v2_mount}
    if mode == "hybrid" and on_v2:
        first = on_v2[0]
        info["problem"] = (f"hybrid cgroups with controllers enabled on v2 ({', '.join(on_v2)}): "
                           "libcrun (the crun backend) refuses to create containers")
        info["fix"] = " && ".join(
            f"mkdir -p {CGROUP_ROOT}/{c} && mount -t cgroup -o {c} cgroup {CGROUP_ROOT}/{c}"
            for c in on_v2) if on_v2 else ""
        info["fix_note"] = (f"mounting each as a v1 hierarchy moves it off v2 (e.g. {first}); "
                            "Proxmox VE 7+ uses pure cgroup v2 and is not affected")
    return info


def host_cgroups() -> Dict[str, Any]:
    text = read_mountinfo()
    if not text:
        return {"mode": "unknown", "error": "cannot read /proc/self/mountinfo"}
    return cgroup_layout(text)


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
        from lxcri.backends.crun import version_info

        crun = version_info()
        info["libcrun"] = crun["libcrun"]
        info["spec"] = crun["spec"]
    else:
        info["libcrun"] = None
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
