"""What of the library API a CLI create or run never reaches: the bodies of the Runtime's
delete, list, info and exec (lxcri.runtime's Runtime calls them here), and spec, features
and version_info (offered by lxcri.runtime too), kept apart so that a create does not
load their byte code."""
from __future__ import annotations

import os

from lxcri import dispatch
from lxcri.backends import BACKENDS, RuntimeType
from lxcri.bundle import validate_id
from lxcri.errors import (
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    InvalidArgument,
    LxcriError,
    StateCorrupt,
)
from lxcri.host import warmup
from lxcri.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence

    from lxcri.options import ExecOptions
    from lxcri.runtime import Runtime, StdioArg


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


def exec_process(rt: Runtime, id: str, options: Optional[ExecOptions], stdin: StdioArg,
                 stdout: StdioArg, stderr: StdioArg, keywords: Dict[str, Any]) -> int:
    """Runtime.exec: run another process in a running container (see there)."""
    from lxcri import runtime
    from lxcri.options import ExecOptions

    opts = runtime._options(ExecOptions, None, options, keywords)
    validate_id(id)
    if rt.isolate:
        warmup.nudge()  # libcrun moves the new process into the container's cgroups
    process, args = opts.process, opts.args
    if (process is None) == (not args):
        raise InvalidArgument("exec needs either a process file or a command, not both")
    made = None
    if process is None:
        made = _write_process_file(rt.root, args or (), tty=opts.tty, cwd=opts.cwd,
                                   env=opts.env, user=opts.user, caps=opts.caps,
                                   no_new_privs=opts.no_new_privs)
        process = made
    elif not os.path.isfile(process):
        raise InvalidArgument(f"process file {process} not found: pass the path of a "
                              "process.json")
    try:
        runtime._check_fd_counts(opts.preserve_fds, opts.listen_fds)
        resolved = opts.replace(process=os.path.abspath(process),
                                pid_file=rt._abs(opts.pid_file),
                                console_socket=rt._abs(opts.console_socket))
        try:
            return int(rt._call_with_stdio(rt.owner(id), "exec", stdin, stdout, stderr,
                                             id, resolved))
        except ContainerNotFound:
            rt._on_container("exec in", "state_json", id)  # says why, if it can
            raise
    finally:
        if made is not None:
            os.unlink(made)


def _parse_user(user: Optional[str]) -> Dict[str, Any]:
    if user is None:
        return {"uid": 0, "gid": 0}
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise InvalidArgument(f"invalid --user {user!r}: use UID[:GID] with numbers")
    return {"uid": int(uid), "gid": int(gid or 0)}


_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _write_process_file(root: str, args: Sequence[str], *, tty: bool, cwd: Optional[str],
                        env: Sequence[str], user: Optional[str], caps: Sequence[str],
                        no_new_privs: bool) -> str:
    """A process.json for exec built from command-line options (what crun fills in too)."""
    import json
    import tempfile

    for item in env:
        if "=" not in item:
            raise InvalidArgument(f"invalid --env {item!r}: use NAME=VALUE")
    env = list(env)
    if not any(item.startswith("PATH=") for item in env):
        env.insert(0, _DEFAULT_PATH)  # what crun and runc give an exec'd process
    if tty and not any(item.startswith("TERM=") for item in env):
        env.append("TERM=xterm")
    process: Dict[str, Any] = {"args": list(args), "terminal": tty, "user": _parse_user(user),
                               "env": env, "cwd": cwd or "/"}
    if caps:
        names = [c if c.upper().startswith("CAP_") else f"CAP_{c}" for c in caps]
        names = [c.upper() for c in names]
        process["capabilities"] = {key: names for key in
                                   ("effective", "bounding", "ambient", "permitted")}
    if no_new_privs:
        process["noNewPrivileges"] = True
    os.makedirs(root, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=".exec-", suffix=".json", dir=root)
    with os.fdopen(fd, "w") as f:
        json.dump(process, f)
    return path


def write_spec(bundle: str, rootless: bool = False) -> str:
    """Write libcrun's default config.json into `bundle`; refuse to overwrite one."""
    from lxcri.backends.crun.inprocess import spec_json

    path = os.path.join(os.path.abspath(bundle), "config.json")
    if not os.path.isdir(os.path.dirname(path)):
        raise InvalidArgument(f"bundle {os.path.dirname(path)} is not a directory: create it first")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ContainerExists(f"{path} already exists: remove it or pick another --bundle",
                              errno=17) from None
    with os.fdopen(fd, "w") as f:
        f.write(spec_json(rootless))
    return path


def features() -> Dict[str, Any]:
    """The OCI runtime features document (runtime-spec features.md) for this build."""
    from lxcri.backends.crun.inprocess import build_features

    return build_features()


def version_info() -> Dict[str, Any]:
    """lxcri's and libcrun's versions, the OCI spec version, and libcrun's build features."""
    from lxcri._version import __version__
    from lxcri.backends.crun.inprocess import version_info as crun_version

    return {"lxcri": __version__, **crun_version()}


def default_spec(rootless: bool = False) -> Dict[str, Any]:
    """libcrun's default config.json (what `crun spec` writes), as a dict."""
    import json

    from lxcri.backends.crun.inprocess import spec_json

    return dict(json.loads(spec_json(rootless)))
