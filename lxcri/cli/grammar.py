"""lxcri's command-line grammar, stated once: each command with its options, operands, choices, defaults and help.

Two readers are built on these tables and on nothing else, so they cannot
drift apart: lxcri.cli.fast parses the argv engines send without importing
anything third-party, and lxcri.cli.app generates the typer app (help, error
messages, did-you-mean) from them. The keywords here are the keyword
arguments of the command functions in lxcri.commands, which have no defaults
of their own: every default is stated here.

This module is imported on every engine call, so it holds plain classes and
constants and imports no typing, enum, dataclasses, re or json;
`TYPE_CHECKING = False` stands in for typing.TYPE_CHECKING as in lxcri.commands.
"""
from __future__ import annotations

from lxcri.backends import RuntimeType
from lxcri.commands import DEFAULT_ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# What an option does with the words after it.
FLAG = "flag"          # takes no value: sets its keyword to True
VALUE = "value"        # takes one value: the last one given wins
REPEATED = "repeated"  # takes one value each time: its keyword collects them all in a list
COUNT = "count"        # takes a non-negative integer, passed on as an int; the last one given wins

_KIND_DEFAULTS: dict[str, object] = {FLAG: False, VALUE: None, REPEATED: (), COUNT: 0}


class Option:
    """One option: its spellings, the keyword it sets, how it reads its value, its default, choices and help."""

    __slots__ = ("spellings", "keyword", "kind", "default", "choices", "metavar", "help")

    def __init__(self, *spellings: str, help: str, kind: str = VALUE, keyword: str | None = None,
                 default: object = None, choices: tuple[str, ...] = (), metavar: str | None = None) -> None:
        assert spellings and spellings[0].startswith("--"), "the long spelling comes first"
        assert kind in _KIND_DEFAULTS, kind
        self.spellings = spellings
        # Named after the long spelling unless said otherwise: --pid-file sets pid_file.
        self.keyword = keyword or spellings[0][2:].replace("-", "_")
        self.kind = kind
        # A repeated option's default is an empty tuple, safe to share; parsers pass lists.
        self.default = _KIND_DEFAULTS[kind] if default is None else default
        self.choices = choices    # the values it accepts; () for any
        self.metavar = metavar
        self.help = help

    def __repr__(self) -> str:
        return f"Option({'/'.join(self.spellings)} -> {self.keyword}, {self.kind})"


class Operand:
    """One positional word: the keyword it fills, how help names it, and its default when it may be left out."""

    __slots__ = ("keyword", "metavar", "help", "default", "required")

    def __init__(self, keyword: str, metavar: str, help: str, *, default: str | None = None) -> None:
        self.keyword = keyword
        self.metavar = metavar
        self.help = help
        self.default = default
        self.required = default is None


class Command:
    """What one command word accepts, and the function of lxcri.commands it calls.

    `rest` is an operand taking every word after the others as a list (exec's
    command): options then end at the first positional word, as click reads a
    command that does not allow interspersed arguments. Otherwise options may
    also follow the operands.
    """

    __slots__ = ("name", "function", "help", "options", "operands", "rest", "enters_container",
                 "table", "defaults", "required", "checked", "repeated")

    def __init__(self, name: str, function: str, help: str, *, options: Iterable[Option] = (),
                 operands: Iterable[Operand] = (), rest: Operand | None = None,
                 enters_container: bool = False) -> None:
        self.name = name
        self.function = function   # attribute name in lxcri.commands
        self.help = help
        self.options = tuple(options)
        self.operands = tuple(operands)
        self.rest = rest
        # Its process ends up inside a container (see lxcri.__main__.needs_seal).
        self.enters_container = enters_container
        # Derived once here, so that parsing only looks things up.
        self.table = {spelling: option for option in self.options for spelling in option.spellings}
        assert len(self.table) == sum(len(option.spellings) for option in self.options), f"{name}: a spelling twice"
        self.defaults: dict[str, object] = {option.keyword: option.default for option in self.options}
        self.defaults.update((operand.keyword, operand.default) for operand in self.operands if not operand.required)
        if rest is not None:
            self.defaults[rest.keyword] = ()
        self.required = sum(operand.required for operand in self.operands)
        # The options whose values need a look after parsing: a choice list, or a count.
        self.checked = tuple(option for option in self.options if option.choices or option.kind == COUNT)
        self.repeated = tuple(option for option in self.options if option.kind == REPEATED)

    def __repr__(self) -> str:
        return f"Command({self.name!r} -> {self.function})"


# --- the global options, before the command word ------------------------------------

ROOT = Option("--root", metavar="DIR", default=DEFAULT_ROOT, help="Directory holding the containers' state.")
DEBUG = Option("--debug", kind=FLAG, help="Verbose libcrun output; tracebacks for internal errors.")
LOG = Option("--log", metavar="FILE", help="Also append errors to FILE (file:FILE is the same).")
LOG_FORMAT = Option("--log-format", choices=("text", "json"), default="text",
                    help="Write the --log file as text lines or JSON objects.")
LOG_LEVEL = Option("--log-level", choices=("debug", "info", "warning", "warn", "error"),
                   help="How much the runtime logs (warn is warning).")
SYSTEMD_CGROUP = Option("--systemd-cgroup", kind=FLAG, help="Same as --cgroup-manager systemd.")
CGROUP_MANAGER = Option("--cgroup-manager", choices=("cgroupfs", "systemd", "disabled"),
                        help="Who manages the containers' cgroups (default: cgroupfs).")
GLOBAL_ROOTLESS = Option("--rootless", choices=("true", "false", "auto"),
                         help="Accepted for compatibility with runc; ignored.")
VERSION = Option("--version", "-v", "-V", kind=FLAG, help="Print the versions of lxcri, libcrun and the OCI spec.")

# The program itself: its options, and the function `lxcri --version` calls.
GLOBALS = Command("lxcri", "version", "OCI container runtime for Proxmox VE hosts, embedding libcrun.",
                  options=(ROOT, DEBUG, LOG, LOG_FORMAT, LOG_LEVEL, SYSTEMD_CGROUP, CGROUP_MANAGER,
                           GLOBAL_ROOTLESS, VERSION))

# --- the commands' options ----------------------------------------------------------

CONTAINER_ID = Operand("container_id", "ID", "The container's id.")

BUNDLE = Option("--bundle", "-b", metavar="DIR",
                help="Bundle directory holding config.json and the rootfs (default: the current directory).")
CONFIG = Option("--config", "-f", metavar="FILE", default="config.json",
                help="The bundle's configuration file, relative to the bundle.")
PID_FILE = Option("--pid-file", metavar="FILE", help="Write the container process's pid to FILE.")
CONSOLE_SOCKET = Option("--console-socket", metavar="PATH",
                        help="Unix socket to which the pseudo-terminal's master is sent (SCM_RIGHTS).")
PRESERVE_FDS = Option("--preserve-fds", kind=COUNT, metavar="N",
                      help="Pass N file descriptors after stdio (3..N+2) to the process.")
NO_PIVOT = Option("--no-pivot", kind=FLAG, help="Do not use pivot_root to enter the rootfs.")
NO_NEW_KEYRING = Option("--no-new-keyring", kind=FLAG, help="Do not create a new session keyring for the container.")
NO_SUBREAPER = Option("--no-subreaper", kind=FLAG,
                      help="Accepted for runc/crun compatibility and ignored, as crun does.")
# The backends' registry (lxcri.backends.BACKENDS) names them; RuntimeType.ALL is its keys.
RUNTIME = Option("--runtime", choices=RuntimeType.ALL,
                 help="Run the container on this backend; default: the routing rules (annotation lxcri.runtime, "
                      "lxcri.toml, ids lxc-* to lxc, else crun). Also $LXCRI_RUNTIME.")
DETACH = Option("--detach", "-d", kind=FLAG, help="Return once the process is started, not when it exits.")
KEEP = Option("--keep", kind=FLAG, help="Keep the container's state after it exits (no automatic delete).")

CREATE_OPTIONS = (BUNDLE, CONFIG, PID_FILE, CONSOLE_SOCKET, PRESERVE_FDS, NO_PIVOT, NO_NEW_KEYRING, NO_SUBREAPER,
                  RUNTIME)

EXEC_OPTIONS = (
    Option("--process", "-p", metavar="FILE", help="An OCI process.json describing the process."),
    DETACH,
    Option("--tty", "-t", kind=FLAG, help="Give the process a pseudo-terminal."),
    CONSOLE_SOCKET,
    PID_FILE,
    Option("--cwd", metavar="DIR", help="Working directory inside the container."),
    Option("--env", "-e", kind=REPEATED, metavar="K=V", help="Set an environment variable (repeatable)."),
    Option("--user", "-u", metavar="UID[:GID]", help="Run as this user and group."),
    Option("--cap", "-c", kind=REPEATED, keyword="caps", metavar="CAP",
           help="Add a capability, e.g. CAP_SYS_ADMIN (repeatable)."),
    Option("--no-new-privs", kind=FLAG, help="Set no_new_privileges for the process."),
    PRESERVE_FDS,
)

LIST_FORMAT = Option("--format", "-f", keyword="output_format", choices=("table", "json"), default="table",
                     help="Print a table or a JSON array.")

# update's values stay text here: lxcri.commands.update converts them, so that a
# bad one gets the same message on both paths. Their long spellings are their
# keywords with dashes, which is how update names them in its messages.
UPDATE_OPTIONS = (
    Option("--resources", "-r", metavar="FILE",
           help="An OCI LinuxResources JSON file, or - for standard input; the options below apply over it."),
    Option("--memory", metavar="BYTES", help="Memory limit (suffixes k, m, g; -1: unlimited)."),
    Option("--memory-reservation", metavar="BYTES", help="Memory soft limit."),
    Option("--memory-swap", metavar="BYTES", help="Memory plus swap limit (-1: unlimited)."),
    Option("--cpu-shares", metavar="N", help="CPU shares (relative weight)."),
    Option("--cpu-quota", metavar="N", help="CPU time in microseconds per --cpu-period (-1: unlimited)."),
    Option("--cpu-period", metavar="N", help="CFS period in microseconds."),
    Option("--cpu-rt-runtime", metavar="N", help="Realtime runtime in microseconds per period."),
    Option("--cpu-rt-period", metavar="N", help="Realtime period in microseconds."),
    Option("--cpuset-cpus", metavar="LIST", help="CPUs the container may use, e.g. 0-2,4."),
    Option("--cpuset-mems", metavar="LIST", help="Memory nodes the container may use."),
    Option("--pids-limit", metavar="N", help="Maximum number of processes (-1: unlimited)."),
    Option("--blkio-weight", metavar="N", help="Block IO weight (10-1000)."),
)

# --- the commands, in the order help lists them ---------------------------------------

COMMANDS: dict[str, Command] = {command.name: command for command in (
    Command("create", "create", "Create a container; its process waits for `start`.",
            options=CREATE_OPTIONS, operands=(CONTAINER_ID,), enters_container=True),
    Command("start", "start", "Start the process of a created container.", operands=(CONTAINER_ID,)),
    Command("state", "state", "Print the OCI state of a container as JSON.", operands=(CONTAINER_ID,)),
    Command("kill", "kill", "Send a signal to a container's init process.",
            options=(Option("--all", "-a", kind=FLAG, keyword="all_processes",
                            help="Signal every process in the container, not only its init."),),
            operands=(CONTAINER_ID,
                      Operand("signal", "SIGNAL", "Signal name (TERM, SIGKILL) or number.", default="TERM"))),
    Command("delete", "delete", "Delete a container and its state.",
            options=(Option("--force", "-f", kind=FLAG, help="Kill the container first if it is still running."),
                     Option("--regex", "-r", kind=FLAG,
                            help="ID is a regular expression: delete every container it matches.")),
            operands=(CONTAINER_ID,)),
    Command("run", "run", "Create and start a container; in the foreground, exit with its exit code.",
            options=(*CREATE_OPTIONS, DETACH, KEEP), operands=(CONTAINER_ID,), enters_container=True),
    Command("exec", "exec_process",
            "Run a process inside a running container; in the foreground, exit with its exit code.",
            options=EXEC_OPTIONS, operands=(CONTAINER_ID,),
            rest=Operand("command", "COMMAND", "The command and its arguments, unless --process gives them."),
            enters_container=True),
    Command("list", "list_containers", "List the containers under the root.",
            options=(LIST_FORMAT, Option("--quiet", "-q", kind=FLAG, help="Print only the ids."))),
    Command("ps", "ps", "List the pids of the processes in a container.",
            options=(LIST_FORMAT,), operands=(CONTAINER_ID,)),
    Command("pause", "pause", "Freeze every process of a container.", operands=(CONTAINER_ID,)),
    Command("resume", "resume", "Thaw a paused container.", operands=(CONTAINER_ID,)),
    Command("update", "update", "Change the resource limits of a running container.",
            options=UPDATE_OPTIONS, operands=(CONTAINER_ID,)),
    Command("spec", "spec", "Write a default config.json into the bundle directory.",
            options=(BUNDLE,
                     Option("--rootless", kind=FLAG, help="A configuration for a container run without root."))),
    Command("features", "features", "Print the OCI features document (what this runtime supports) as JSON."),
    Command("info", "info",
            "Show versions, backends (available or why not), cgroup mode, config file, routing rules, state root.",
            options=(Option("--format", "-f", keyword="output_format", choices=("text", "json"), default="text",
                            help="Print text or a JSON document."),)),
)}

# The command words whose process ends up inside a container (lxcri.__main__ seals the process for them).
ENTERING_COMMANDS = frozenset(name for name, command in COMMANDS.items() if command.enters_container)
