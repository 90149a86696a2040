"""What `lxcri info` reports, built from plain inputs: versions, the libcrun loaded and what it
links, backends, cgroup mode, config file, routing, state root.

lxcri.runtime.Runtime.info() gathers the inputs (from lxcri.host, the backends'
availability, the config); build() arranges them and format_text() prints them.

This is lxcri's dependency check: it says which backends can run here and why
the others cannot, and spots the cgroup layout libcrun refuses (hybrid v1+v2 with
controllers enabled on v2) together with the command that fixes it.
"""
from __future__ import annotations

from lxcri.backends import RuntimeType
from lxcri.host.cgroups import CGROUP_ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from lxcri.config import Config


def cgroup_layout(mountinfo: str, v2_controllers: Optional[str] = None) -> Dict[str, Any]:
    """The cgroup mode (v1, v2, hybrid), the controllers on each side and, when libcrun
    would refuse the layout, the problem and its fix.

    mountinfo: /proc/self/mountinfo's text; v2_controllers: the cgroup.controllers file
    of the v2 mount (None: read it from the mount found)."""
    from lxcri.host import cgroups
    from lxcri.host import mountinfo as mountinfo_mod

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


def build(*, lxcri_version: str, state_root: str, config_doc: Dict[str, Any],
          config: Optional[Config], libcrun: Optional[Dict[str, Any]],
          libcrun_library: Optional[Dict[str, Any]], runtimes: List[Dict[str, Any]],
          env_runtime: Optional[str], cgroups: Dict[str, Any]) -> Dict[str, Any]:
    """Everything `lxcri info` shows, as plain data (the JSON of `info --format json`),
    from plain inputs: config_doc describes the config file (path, present, source, error),
    config is the loaded file (None when it failed), libcrun the embedded crun's
    version_info() (None when it cannot load), runtimes one {name, available, detail,
    containers} per backend, cgroups lxcri.host.cgroups.host_layout()."""
    from lxcri.config import BUILTIN_RULE, Rule
    from lxcri.dispatch import ANNOTATION, ENV_RUNTIME

    info: Dict[str, Any] = {"lxcri": lxcri_version, "state_root": state_root,
                            "config": config_doc}
    info["libcrun"] = libcrun["libcrun"] if libcrun else None
    if libcrun:
        info["spec"] = libcrun["spec"]
    info["libcrun_library"] = libcrun_library if libcrun else None
    info["runtimes"] = runtimes
    routing: List[Dict[str, Any]] = [
        {"source": f"--runtime NAME or ${ENV_RUNTIME}", "runtime": env_runtime or None},
        {"source": f"annotation {ANNOTATION} in config.json", "runtime": None}]
    for rule in (config.rules if config is not None else []):
        routing.append({"source": f"{config.path}:{rule.line}" if config is not None else "",
                        "rule": rule.describe(), **rule.to_dict()})
    builtin = Rule(*BUILTIN_RULE)
    routing.append({"source": "built-in", "rule": f"id matches glob {builtin.pattern!r} -> "
                    f"{builtin.runtime}", **builtin.to_dict()})
    default = config.default_runtime if config is not None else RuntimeType.CRUN
    routing.append({"source": f"default_runtime ({config.path})" if config is not None
                    and config.path else "default", "runtime": default})
    info["routing"] = routing
    info["cgroups"] = cgroup_report(cgroups)
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
