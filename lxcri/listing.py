"""What `lxcri list` prints: the table crun prints (and the runtime of each container), or
its JSON array. Apart from lxcri.commands so that the quick `list` (lxcri.cli.quick)
loads only this."""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from lxcri.state import State


def _shown_pid(s: "State") -> int:
    # As crun: a container whose process is gone lists pid 0.
    return 0 if s.status == "stopped" or not s.pid else int(s.pid)


def format_table(states: "Sequence[State]") -> str:
    """The `list` table: `crun list`'s columns, then RUNTIME (the backend that runs it)."""
    width = max([4] + [len(s.id) for s in states]) + 1
    owner = max([5] + [len(str(s.owner or "")) for s in states]) + 1
    lines = [f"{'NAME':<{width}}{'PID':<10}{'STATUS':<8} {'BUNDLE PATH':<39} {'CREATED':<30} "
             f"{'OWNER':<{owner}}RUNTIME"]
    for s in states:
        lines.append(f"{s.id:<{width}}{_shown_pid(s):<10}{s.status:<8} {s.bundle:<39} "
                     f"{s.created or '':<30} {s.owner or '':<{owner}}{s.runtime}")
    return "\n".join(lines) + "\n"


def format_json_list(states: "Sequence[State]") -> str:
    """`list --format json`: the array of {id, pid, status, bundle, created, owner} crun
    prints, and the runtime (backend) of each."""
    from lxcri import jsonlite

    entries = [{"id": s.id, "pid": _shown_pid(s), "status": s.status, "bundle": s.bundle,
                "created": s.created, "owner": s.owner, "runtime": s.runtime} for s in states]
    return jsonlite.dumps(entries) + "\n"
