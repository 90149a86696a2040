"""The Backend protocol: what every backend module implements (one module per backend).

A backend works in one process and returns plain data (ints, strings, dicts of the
OCI state), so lxcri.isolation can run any of its operations in a helper process
and ship the result back. Ids and bundles arrive validated (lxcri.bundle); paths
arrive absolute. create, run and exec each receive one value, the lxcri.options object
that states their options once (CreateOptions, RunOptions, ExecOptions), resolved by the
Runtime: bundle, config, pid_file, console_socket and process are absolute paths, and
listen_fds counts systemd's sockets. The container's stdio is the calling process's fds
0, 1 and 2; with preserve_fds=N (plus listen_fds=M) fds 3 .. 3+N+M-1 go to it too.

Errors are lxcri.errors classes: ContainerNotFound for an unknown id,
ContainerExists, InvalidBundle/InvalidConfig for what the bundle asks and the
backend cannot honour, ContainerStateError, BackendUnavailable, else LxcriError;
every message names the container and says what to do.

Each backend is an entry of the registry (lxcri.backends.BACKENDS) naming its module,
the factory there that makes a Backend, and a module-level `availability(options)` returning
(True, "what serves it, e.g. /usr/sbin/runc 1.1.5") or (False, "why not, and the
fix"), where options is the backend's `[runtimes.<name>]` table from lxcri.toml.
It must be cheap and must not raise.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol

from lxcri.options import CreateOptions, ExecOptions, RunOptions


class Backend(Protocol):
    name: str  # a RuntimeType value
    # Optional: a line lxcri shows the user once on opening the backend (e.g. why a
    # stand-in serves); backends without it have none.
    warning: Optional[str]

    def __init__(self, root: str, *, debug: bool = False, systemd_cgroup: bool = False,
                 force_no_cgroup: bool = False, log: Optional[str] = None,
                 log_format: str = "text", log_level: Optional[str] = None,
                 options: Optional[Dict[str, Any]] = None) -> None:
        """root: lxcri's state root (non-crun backends use backends.backend_root(root, name));
        options: the backend's [runtimes.<name>] table from lxcri.toml ({} when absent)."""

    def run(self, id: str, options: RunOptions) -> int:
        """Create and start; in the foreground wait and return the exit code (128+N for
        signal N) and delete the container unless options.keep; with options.detach,
        return 0 at once."""

    def create(self, id: str, options: CreateOptions) -> None:
        """The container exists with a pid (status "created"); the user's process has
        not been executed yet. options.pid_file receives that pid."""

    def start(self, id: str, *, notify_socket: Optional[str] = None) -> None:
        """Start a created container. notify_socket: where its sd_notify messages go
        (the crun and runc backends; the others have no sd_notify and ignore it)."""

    def state_json(self, id: str) -> str:
        """The OCI state document: ociVersion, id, status, pid, bundle, annotations, ..."""

    def kill(self, id: str, signal: int, *, all: bool = False) -> None: ...

    def delete(self, id: str, *, force: bool = False) -> None:
        """Remove a stopped (or created) container; force kills a running one first."""

    def list(self) -> List[Dict[str, Any]]:
        """The state documents of every container of this backend."""

    def exec(self, id: str, options: ExecOptions) -> int:
        """Run the process.json at options.process in the container; in the foreground
        return its exit code."""

    def ps(self, id: str) -> List[int]: ...

    def pause(self, id: str) -> None: ...

    def resume(self, id: str) -> None: ...

    def update(self, id: str, resources_json: str) -> None:
        """Apply an OCI LinuxResources JSON document to a running container."""

    def features(self) -> Dict[str, Any]:
        """The OCI features document (runtime-spec features.md) of this backend."""
