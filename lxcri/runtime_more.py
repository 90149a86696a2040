"""The Runtime's operations that a CLI create, run or exec never reaches: delete, list and
info (lxcri.runtime's Runtime calls them here), kept apart so that those commands do
not load their byte code."""
from __future__ import annotations

import os

from lxcri import dispatch
from lxcri.backends import BACKENDS, RuntimeType
from lxcri.errors import ContainerNotFound, ContainerStateError, LxcriError, StateCorrupt
from lxcri.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List

    from lxcri.runtime import Runtime


def delete(rt: Runtime, id: str, force: bool = False) -> None:
    """Delete a container. With force, a running one is killed first, and an id that
    does not exist is not an error (as with crun and runc).

    What a create killed half-way left is removed by either (lxcri.leftovers); while
    its create still runs, only with force (which kills the creating process too). A
    container whose state files are corrupt is removed only with force."""
    from lxcri import leftovers

    try:
        rt._on_owner("delete", id, force=force)
    except ContainerNotFound:
        try:
            record = rt._unfinished(id)
        except StateCorrupt:
            if not force:
                raise
            leftovers.remove(rt.root, id, rt._owners, rt._owners.read(id))
            return
        if record is None:
            rt._owners.release(id)
            if not force:
                raise
            return
        if not force and leftovers.creator_alive(record):
            raise ContainerStateError(
                f"cannot delete container `{id}`: {leftovers.describe(record)}; wait for "
                f"it, or `lxcri delete --force {id}`", container_id=id) from None
        leftovers.remove(rt.root, id, rt._owners, record)
    except StateCorrupt:
        if not force:
            raise
        record = rt._owners.read(id)
        leftovers.remove(rt.root, id, rt._owners, record,
                         runtimes=None if record is None or record.problem
                         else [rt.owner(id)])
    else:
        rt._owners.release(id)


def list_states(rt: Runtime) -> List[State]:
    """Every container under the root, whichever backend runs it (State.runtime), and
    what lxcri's records alone know: unfinished creates (`creating`, `broken`) and
    unreadable records (`corrupt`)."""
    states: List[State] = []
    if dispatch.has_crun_containers(rt.root):
        states += [State.from_dict(d, RuntimeType.CRUN)
                   for d in rt._call(RuntimeType.CRUN, "list")]
    for name, _ in dispatch.state_roots(rt.root):
        states += [State.from_dict(d, name) for d in rt._call(name, "list")]
    listed = {s.id for s in states}
    for id in rt._owners.ids():
        if id in listed:
            continue
        record = rt._owners.read(id)
        if record is None or (record.problem is None and record.phase != "creating"):
            continue  # gone meanwhile, or a stale record of a container deleted elsewhere
        from lxcri import leftovers

        states.append(State.from_dict(leftovers.listed_state(record),
                                      record.runtime or "unknown"))
    return sorted(states, key=lambda s: s.id)


def info(rt: Runtime) -> Dict[str, Any]:
    """What `lxcri info` prints: versions, backends and their availability, cgroup
    mode, the config file and its routing rules, the state root."""
    from lxcri import info
    from lxcri._version import __version__
    from lxcri.config import config_path
    from lxcri.host import cgroups, libraries

    path, required = config_path(rt._config_path)
    config_doc: Dict[str, Any] = {"path": path, "present": os.path.exists(path),
                                  "source": "LXCRI_CONFIG" if required and not
                                  rt._config_path else ("argument" if rt._config_path
                                                          else "default")}
    cfg = None
    try:
        cfg = rt.config()
        config_doc.update(cfg.to_dict())
        config_doc["path"] = path
    except LxcriError as exc:
        config_doc["error"] = exc.message
    libcrun = None
    if dispatch.embedded_crun_problem() is None:
        from lxcri.backends.crun.inprocess import version_info as crun_versions

        libcrun = crun_versions()
    owners = rt._owners.all()
    runtimes = []
    for name in BACKENDS:
        ok, detail = dispatch.availability(name, cfg.options(name) if cfg is not None else {})
        runtimes.append({"name": name, "available": ok, "detail": detail,
                         "containers": sum(1 for o in owners.values() if o == name)})
    return info.build(
        lxcri_version=__version__, state_root=rt.root, config_doc=config_doc, config=cfg,
        libcrun=libcrun, libcrun_library=libraries.libcrun_libraries() if libcrun else None,
        runtimes=runtimes, env_runtime=os.environ.get(dispatch.ENV_RUNTIME),
        cgroups=cgroups.host_layout())
