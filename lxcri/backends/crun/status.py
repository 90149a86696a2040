"""libcrun's state files read without libcrun: the state, the list and the plain kill of
crun containers, for the commands an engine repeats.

Loading libcrun (lxcri._crun and the libraries it links) is 3-4 ms of a `state`
command that is 15 ms in all; runc answers in 4-5. What libcrun does for these three
is small, and is done here the same way, from the same files:

- the status file `<root>/<id>/status` (libcrun_read_container_status);
- running: kill(pid, 0), then the process's start time and state (lxcri.host.procfs)
  against the status file's (libcrun_is_container_running);
- created while `exec.fifo` is there, else paused when the freezer says so (cgroup v2:
  cgroup.freeze, else freezer.state on the v1 freezer hierarchy), else running; a
  cgroup gone meanwhile is stopped (libcrun_get_container_state_string);
- the document in libcrun's order and yajl's layout, with the annotations of the
  container's config.json copy (libcrun_container_state);
- the signal through a pidfd opened before the start time is checked
  (libcrun_kill_linux);
- start: the byte written to `exec.fifo` once the fifo is unlinked, for a container
  whose config has no poststart hooks and no NOTIFY_SOCKET to wait on
  (libcrun_container_start);
- delete under cgroupfs without poststop hooks: the init ended through a pidfd where
  it still runs, its cgroup directories removed, then the state directory
  (container_delete_internal).

It imports posix, not os: `import os` is 1.1-1.3 ms of the ~3 ms a quick `state` adds to
the interpreter's start here (lxcri.quick passes absolute, normalized paths).

Every function returns None where it is not sure to give libcrun's answer: a file
missing, unreadable, of another shape, a value outside the plain cases. The caller then
asks libcrun (lxcri.backends.crun.backend), which also says what is wrong. Nothing here
changes anything before it is sure, so going the full way after a None is always safe;
delete alone may have done the first steps of libcrun's own delete by then, which
libcrun takes as done.
"""
import _signal  # type: ignore[import-not-found]  # signal's C half: loaded at start-up, no enum
import posix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

CGROUP_ROOT = "/sys/fs/cgroup"
OCI_VERSION = "1.0.0"  # what libcrun_container_state prints
_MAX_FILE = 1 << 20  # a status file is ~400 bytes; a config.json copy is refused above 16 MiB


def _read(path: str) -> "Optional[bytes]":
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_FILE + 1)
    except OSError:
        return None
    return data if len(data) <= _MAX_FILE else None


def _object(path: str) -> "Optional[Dict[str, Any]]":
    from lxcri import jsonlite

    data = _read(path)
    if data is None:
        return None
    try:
        doc = jsonlite.loads(data)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _exists(path: str) -> bool:
    try:
        posix.stat(path)
    except OSError:
        return False
    return True


def _plain(text: object) -> bool:
    """A string that yajl and _json.encode_basestring write alike: no control characters."""
    return isinstance(text, str) and all(ch >= " " and ch != "\x7f" for ch in text)


def read_status(root: str, id: str) -> "Optional[Dict[str, Any]]":
    """The status file of `id`, when it has what libcrun requires of it, as libcrun reads it."""
    doc = _object(f"{root}/{id}/status")
    if doc is None:
        return None
    pid, start = doc.get("pid"), doc.get("process-start-time", 0)
    if type(pid) is not int or pid <= 0 or type(start) is not int or start < 0:
        return None
    for key in ("cgroup-path", "rootfs", "bundle", "created"):
        if not _plain(doc.get(key)):
            return None
    for key in ("scope", "owner"):
        if key in doc and not _plain(doc[key]):
            return None
    return doc


def _pid_valid(pid: int, start: int) -> "Optional[bool]":
    """Whether pid is still the process the status file names (libcrun_check_pid_valid):
    its start time (lxcri.host.procfs, which reads /proc for all of lxcri) is the status
    file's, and it is not a zombie."""
    if not start:
        return True  # a status file without a start time: libcrun does not check it
    from lxcri.host import procfs

    return procfs.starttime(pid) == str(start)


def _running(status: "Dict[str, Any]") -> "Optional[bool]":
    try:
        posix.kill(status["pid"], 0)
    except ProcessLookupError:
        return False
    except OSError:
        return None
    return _pid_valid(status["pid"], status.get("process-start-time", 0))


def _paused(cgroup_path: str) -> "Optional[bool]":
    """The freezer's word on the cgroup; None when it cannot be read, False for a cgroup
    that is gone (then the container is stopped, as libcrun has it: see status_word)."""
    if not cgroup_path:
        return False
    unified = _exists(f"{CGROUP_ROOT}/cgroup.controllers")
    where = CGROUP_ROOT if unified else CGROUP_ROOT + "/freezer"
    name, frozen = ("cgroup.freeze", "1") if unified else ("freezer.state", "FROZEN")
    try:
        with open(f"{where}/{cgroup_path.strip('/')}/{name}".replace("//", "/")) as f:
            return frozen in f.read()
    except (FileNotFoundError, ProcessLookupError):
        raise _Gone from None
    except OSError as exc:
        import errno

        if exc.errno == errno.ENODEV:
            raise _Gone from None
        return None


class _Gone(Exception):
    """The container's cgroup went away while it was read: the container is stopped."""


def status_word(root: str, id: str, status: "Dict[str, Any]") -> "Optional[tuple[str, bool]]":
    """(created | running | paused | stopped, whether its process runs)."""
    running = _running(status)
    if running is None:
        return None
    if not running:
        return "stopped", False
    try:
        posix.lstat(f"{root}/{id}/exec.fifo")
        return "created", True
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        paused = _paused(status["cgroup-path"])
    except _Gone:
        return "stopped", True
    if paused is None:
        return None
    return ("paused" if paused else "running"), True


def state_doc(root: str, id: str) -> "Optional[Dict[str, Any]]":
    """The OCI state libcrun_container_state prints for `id`, key for key."""
    status = read_status(root, id)
    if status is None:
        return None
    word = status_word(root, id, status)
    if word is None:
        return None
    doc: Dict[str, Any] = {"ociVersion": OCI_VERSION, "id": id,
                           "pid": status["pid"] if word[1] else 0, "status": word[0],
                           "bundle": status["bundle"], "rootfs": status["rootfs"],
                           "created": status["created"]}
    if "scope" in status:
        doc["systemd-scope"] = status["scope"]
    if "owner" in status:
        doc["owner"] = status["owner"]
    config = _object(f"{root}/{id}/config.json")
    if config is None:
        return None
    annotations = config.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            return None
        if not all(_plain(k) and _plain(v) for k, v in annotations.items()):
            return None
        if annotations:
            doc["annotations"] = dict(annotations)
    return doc


def state_text(doc: "Dict[str, Any]") -> str:
    """The document as libcrun prints it: yajl's beautified layout (json's indent=4, UTF-8
    as it is), then an empty line."""
    from lxcri import jsonlite

    return jsonlite.dumps(doc, ensure_ascii=False) + "\n\n"


def container_ids(root: str) -> "Optional[List[str]]":
    """The containers libcrun lists under root: entries without a leading dot that hold a
    status file (libcrun_get_containers_list)."""
    try:
        names = posix.listdir(root)
    except OSError:
        return None
    ids = []
    for name in names:
        if name.startswith("."):
            continue
        try:
            posix.lstat(f"{root}/{name}/status")
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return None
        ids.append(name)
    return ids


def kill(root: str, id: str, signal: int) -> bool:
    """Send `signal` to the container's process as libcrun_kill_linux does; False (nothing
    sent) where it is not the plain case: libcrun then sends it, or says why not."""
    status = read_status(root, id)
    if status is None:
        return False
    try:
        pidfd = posix.pidfd_open(status["pid"])
    except (OSError, AttributeError):
        return False
    try:
        if _pid_valid(status["pid"], status.get("process-start-time", 0)) is not True:
            return False
        _signal.pidfd_send_signal(pidfd, signal)
        return True
    except OSError:
        return False  # not sent: libcrun tries, and says why it cannot
    finally:
        posix.close(pidfd)


def start(root: str, id: str) -> bool:
    """Let the created container's process go on as libcrun_container_start does; False
    (nothing done) where it is not the plain case: a config with poststart hooks, a
    NOTIFY_SOCKET to wait on, a container that is not created, a fifo without a reader."""
    if posix.environ.get(b"NOTIFY_SOCKET"):
        return False
    status = read_status(root, id)
    if status is None or _running(status) is not True:
        return False
    config = _object(f"{root}/{id}/config.json")
    if config is None:
        return False
    hooks = config.get("hooks")
    if hooks is not None and (not isinstance(hooks, dict) or hooks.get("poststart")):
        return False
    fifo = f"{root}/{id}/exec.fifo"
    try:
        # Non-blocking, unlike libcrun: without a reader (its process died meanwhile) this
        # fails at once (ENXIO) instead of waiting for ever, and libcrun then explains.
        fd = posix.open(fifo, posix.O_WRONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except OSError:
        return False
    try:
        posix.unlink(fifo)
        posix.write(fd, b"\0")
    finally:
        posix.close(fd)
    return True


def _own_pid_namespace(config: "Dict[str, Any]") -> bool:
    """Whether the container has a pid namespace of its own (then ending its init ends
    every process in it, which is all libcrun's delete kills)."""
    linux = config.get("linux")
    spaces = linux.get("namespaces") if isinstance(linux, dict) else None
    return isinstance(spaces, list) and any(
        isinstance(ns, dict) and ns.get("type") == "pid" and not ns.get("path") for ns in spaces)


def _end(pid: int, start: int, seconds: float) -> bool:
    """SIGKILL the container's init through a pidfd and wait until it has exited."""
    import select

    try:
        pidfd = posix.pidfd_open(pid)
    except OSError:
        return False
    try:
        if _pid_valid(pid, start) is not True:
            return _pid_valid(pid, start) is False
        _signal.pidfd_send_signal(pidfd, 9)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(int(seconds * 1000)))  # readable once it has exited
    except OSError:
        return False
    finally:
        posix.close(pidfd)


def delete(root: str, id: str, cgroup_dirs: "List[str]", force: bool) -> bool:
    """Delete the container as libcrun's container_delete_internal does, for the plain
    case: cgroupfs (not systemd), no poststop hooks, its own pid namespace; the init
    already gone, or (force, or still created) ended here. Then its cgroup directories
    (`cgroup_dirs`: what lxcri's record says libcrun made for it) and the state
    directory go. False where it is not the plain case; also after a step that libcrun's
    delete makes too and takes as done (the init killed, some cgroups removed), so the
    full way after a False finishes the job."""
    status = read_status(root, id)
    if status is None or status.get("systemd-cgroup") is not False or status.get("scope"):
        return False
    config = _object(f"{root}/{id}/config.json")
    if config is None or not _own_pid_namespace(config):
        return False
    hooks = config.get("hooks")
    if hooks is not None and (not isinstance(hooks, dict) or hooks.get("poststop")):
        return False
    leaf = status["cgroup-path"].rstrip("/")
    if not leaf or not cgroup_dirs or not all(d.startswith(CGROUP_ROOT + "/") and d.endswith(leaf)
                                              for d in cgroup_dirs):
        return False
    directory = f"{root}/{id}"
    try:
        names = posix.listdir(directory)
        for name in names:
            if posix.lstat(f"{directory}/{name}").st_mode & 0o170000 == 0o040000:
                return False  # a directory in the state directory: not what libcrun keeps
    except OSError:
        return False
    running = _running(status)
    if running is None:
        return False
    if running:
        created = "exec.fifo" in names
        if not (force or created) or not _end(status["pid"], status.get("process-start-time", 0), 5.0):
            return False
    import time

    for path in cgroup_dirs:
        for attempt in range(100):  # a process of the container may take a moment to go
            try:
                posix.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno == 16 and attempt < 99:  # EBUSY
                    time.sleep(0.005)
                    continue
                return False
            break
    for name in names:
        try:
            posix.unlink(f"{directory}/{name}")
        except FileNotFoundError:
            pass
        except OSError:
            return False
    try:
        posix.rmdir(directory)
    except OSError:
        return False
    return True
