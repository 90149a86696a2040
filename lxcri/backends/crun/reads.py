"""What the crun backend reads from libcrun in this process rather than in a zygote child:
the state JSON, the pids of a container, the list of containers, and kill (CrunBackend
calls them here). Apart from lxcri.backends.crun.backend so that a CLI create, run or
exec, which needs none of them, does not load their byte code."""
from __future__ import annotations

import os

from lxcri.errors import ContainerNotFound, LxcriError, StateCorrupt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Tuple

    from lxcri.backends.crun.backend import CrunBackend


def _handles(backend: CrunBackend, id: str) -> Tuple[Any, Any, Any, List[Any]]:
    """What a call into libcrun in this process about container `id` needs: the in-process
    module, the binding, the libcrun context, and `keep`, what the context points into,
    which the caller holds for as long as it uses the context."""
    backend._require(id)
    here = backend._here()
    binding = here.binding
    keep: List[Any] = []
    ctx = here.libcrun_context(backend, binding, backend._context(id), keep)
    return here, binding, ctx, keep


def ps(backend: CrunBackend, id: str) -> List[int]:
    here, binding, ctx, keep = _handles(backend, id)
    ffi, lib = binding.ffi, binding.lib
    pids = ffi.new("pid_t **")
    here.checked_call(backend, binding, f"cannot list the processes of container `{id}`", id,
                      lambda err: lib.libcrun_container_read_pids(ctx, id.encode(), True, pids,
                                                                  err))
    out: List[int] = []
    if pids[0] != ffi.NULL:
        i = 0
        while pids[0][i] != 0:
            out.append(int(pids[0][i]))
            i += 1
        lib.lxcri_free(pids[0])
    return out


def state_json(backend: CrunBackend, id: str, what: str) -> str:
    here, binding, ctx, keep = _handles(backend, id)
    ffi, lib = binding.ffi, binding.lib
    out = ffi.new("char **")
    try:
        here.checked_call(backend, binding, what, id,
                          lambda err: lib.lxcri_container_state_json(ctx, id.encode(), out, err))
        return ffi.string(out[0]).decode() if out[0] != ffi.NULL else ""
    finally:
        lib.lxcri_free(out[0])


def kill(backend: CrunBackend, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002 (OCI's name)
    here, binding, ctx, keep = _handles(backend, id)
    lib = binding.lib
    fn = lib.libcrun_container_killall if all else lib.libcrun_container_kill
    here.checked_call(backend, binding, f"cannot send signal {signal} to container `{id}`", id,
                      lambda err: fn(ctx, id.encode(), str(signal).encode(), err))


def list_states(backend: CrunBackend) -> List[Dict[str, Any]]:
    from lxcri import jsonlite

    states = []
    for id in backend._ids():
        try:
            states.append(jsonlite.loads(backend.state_json(id)))
        except ContainerNotFound:
            continue  # deleted meanwhile
        except (StateCorrupt, ValueError) as exc:  # one unreadable container: the rest still
            states.append({"ociVersion": "", "id": id, "pid": 0, "status": "corrupt",
                           "bundle": "", "lxcri.problem": str(exc)})
        except LxcriError as exc:
            states.append({"ociVersion": "", "id": id, "pid": 0, "status": "unknown",
                           "bundle": "", "lxcri.problem": str(exc)})
    return states


def ids(backend: CrunBackend) -> Iterator[str]:
    if not os.path.isdir(backend.root):
        return iter(())
    here = backend._here()
    binding = here.binding
    ffi, lib = binding.ffi, binding.lib
    lst = ffi.new("libcrun_container_list_t **")
    here.checked_call(backend, binding, f"cannot list containers under {backend.root}", None,
                      lambda err: lib.libcrun_get_containers_list(lst, backend.root.encode(),
                                                                  err))
    ids = []
    node = lst[0]
    while node != ffi.NULL:
        ids.append(ffi.string(node.name).decode())
        node = node.next
    lib.libcrun_free_containers_list(lst[0])
    return iter(sorted(ids))
