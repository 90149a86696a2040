"""Forgetting a container's ownership record (`<root>/.lxcri/owners/<id>`), with posix
alone: lxcri.dispatch.Owners.release and the quick delete (lxcri.quick) share it, and
the quick way does without os."""
import posix


def release(owners_dir: str, id: str, tidy: bool = True) -> None:
    """Remove id's record, then the records written aside by creates that died before
    linking theirs into place (`.tmp-<pid>-<random>` of a pid that is gone), then (with
    `tidy`) the bookkeeping directories once empty, so a root whose containers are all
    gone is left as empty as crun leaves it."""
    try:
        posix.unlink(f"{owners_dir}/{id}")
    except FileNotFoundError:
        pass
    try:
        names = posix.listdir(owners_dir)
    except OSError:
        names = []
    for name in names:
        pid = name[len(".tmp-"):].split("-", 1)[0] if name.startswith(".tmp-") else ""
        if pid.isdigit():
            try:
                posix.stat(f"/proc/{pid}")
                continue
            except FileNotFoundError:
                pass
            except OSError:
                continue
            try:
                posix.unlink(f"{owners_dir}/{name}")
            except FileNotFoundError:
                pass
    if tidy:
        remove_empty(owners_dir)


def remove_empty(owners_dir: str) -> None:
    """Remove the owners directory and `.lxcri` above it, each only if empty."""
    for directory in (owners_dir, owners_dir.rsplit("/", 1)[0]):
        try:
            posix.rmdir(directory)
        except OSError:  # not empty (other records, a backend's state), or gone already
            break
