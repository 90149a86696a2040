"""lxcri's full command line as a typer app: help text, error messages, and every argv the fast parser passes on.

lxcri.__main__ tries lxcri.cli_fast first and imports this module only for what
that parser leaves alone (--help, mistakes, anything outside its grammar), so
typer's import cost is paid only there. Both parsers end in the same
lxcri.commands functions, looked up on the module at call time so that a test
can stand a recording fake in for them.
"""
from __future__ import annotations

from enum import Enum
from typing import Annotated, NoReturn, Optional

import typer

from lxcri import cli_fast, commands


class OutputFormat(str, Enum):
    """How `list` and `ps` print."""

    table = "table"
    json = "json"



class LogFormat(str, Enum):
    """How errors are written to the --log file."""

    text = "text"
    json = "json"


class LogLevel(str, Enum):
    """How much the runtime logs (warn is warning)."""

    debug = "debug"
    info = "info"
    warning = "warning"
    warn = "warn"
    error = "error"


class CgroupManager(str, Enum):
    """Who creates the container's cgroup: lxcri itself, systemd, or nobody."""

    cgroupfs = "cgroupfs"
    systemd = "systemd"
    disabled = "disabled"


class RuntimeName(str, Enum):
    """The backend a new container runs on (lxcri.backends.RuntimeType)."""

    crun = "crun"
    runc = "runc"
    lxc = "lxc"
    vm = "vm"


class InfoFormat(str, Enum):
    """How `info` prints."""

    text = "text"
    json = "json"


class Rootless(str, Enum):
    """runc's --rootless: accepted for compatibility, then ignored."""

    true = "true"
    false = "false"
    auto = "auto"


app = typer.Typer(
    name="lxcri",
    help="OCI container runtime for Proxmox VE hosts, embedding libcrun.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ContainerId = Annotated[str, typer.Argument(metavar="ID", help="The container's id.", show_default=False)]
Bundle = Annotated[Optional[str], typer.Option(
    "--bundle", "-b", metavar="DIR",
    help="Bundle directory holding config.json and the rootfs (default: the current directory).")]
Config = Annotated[str, typer.Option(
    "--config", "-f", metavar="FILE", help="The bundle's configuration file, relative to the bundle.")]
PidFile = Annotated[Optional[str], typer.Option(
    "--pid-file", metavar="FILE", help="Write the container process's pid to FILE.")]
ConsoleSocket = Annotated[Optional[str], typer.Option(
    "--console-socket", metavar="PATH",
    help="Unix socket to which the pseudo-terminal's master is sent (SCM_RIGHTS).")]
PreserveFds = Annotated[int, typer.Option(
    "--preserve-fds", metavar="N", min=0, help="Pass N file descriptors after stdio (3..N+2) to the process.")]
NoPivot = Annotated[bool, typer.Option("--no-pivot", help="Do not use pivot_root to enter the rootfs.")]
NoNewKeyring = Annotated[bool, typer.Option(
    "--no-new-keyring", help="Do not create a new session keyring for the container.")]
NoSubreaper = Annotated[bool, typer.Option(
    "--no-subreaper", help="Accepted for runc/crun compatibility and ignored, as crun does.")]
Runtime = Annotated[Optional[RuntimeName], typer.Option(
    "--runtime", help="Run the container on this backend; default: the routing rules "
    "(annotation lxcri.runtime, lxcri.toml, ids lxc-* to lxc, else crun). Also $LXCRI_RUNTIME.")]
Detach = Annotated[bool, typer.Option(
    "--detach", "-d", help="Return once the process is started, not when it exits.")]
Format = Annotated[OutputFormat, typer.Option("--format", "-f", help="Print a table or a JSON array.")]
ResourceValue = Optional[str]


def _global_options(ctx: typer.Context) -> commands.GlobalOptions:
    options = ctx.obj
    assert isinstance(options, commands.GlobalOptions), "the app callback sets ctx.obj"
    return options


def _dispatch(ctx: typer.Context, function: str, **arguments: object) -> NoReturn:
    code = commands.invoke(getattr(commands, function), _global_options(ctx), **arguments)
    raise typer.Exit(code)


@app.callback(invoke_without_command=True)
def global_options(
    ctx: typer.Context,
    root: Annotated[str, typer.Option(
        "--root", metavar="DIR", help="Directory holding the containers' state.")] = commands.DEFAULT_ROOT,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Verbose libcrun output; tracebacks for internal errors.")] = False,
    log: Annotated[Optional[str], typer.Option(
        "--log", metavar="FILE", help="Also append errors to FILE (file:FILE is the same).")] = None,
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", help="Write the --log file as text lines or JSON objects.")] = LogFormat.text,
    log_level: Annotated[Optional[LogLevel], typer.Option(
        "--log-level", help="How much the runtime logs.")] = None,
    systemd_cgroup: Annotated[bool, typer.Option(
        "--systemd-cgroup", help="Same as --cgroup-manager systemd.")] = False,
    cgroup_manager: Annotated[Optional[CgroupManager], typer.Option(
        "--cgroup-manager", help="Who manages the containers' cgroups (default: cgroupfs).")] = None,
    rootless: Annotated[Optional[Rootless], typer.Option(
        "--rootless", help="Accepted for compatibility with runc; ignored.")] = None,
    version: Annotated[bool, typer.Option(
        "--version", "-v", "-V", help="Print the versions of lxcri, libcrun and the OCI spec.")] = False,
) -> None:
    """OCI container runtime for Proxmox VE hosts, embedding libcrun."""
    ctx.obj = cli_fast.global_options({
        "root": root, "debug": debug, "log": log, "log_format": log_format.value,
        "log_level": None if log_level is None else log_level.value,
        "cgroup_manager": None if cgroup_manager is None else cgroup_manager.value,
        "systemd_cgroup": systemd_cgroup})
    if version:
        # Not an eager option: this way --debug counts wherever it stands.
        raise typer.Exit(commands.invoke(commands.version, ctx.obj))
    if ctx.invoked_subcommand is None:
        ctx.fail("Missing command.")


@app.command()
def create(ctx: typer.Context, container_id: ContainerId, bundle: Bundle = None,
           config: Config = commands.DEFAULT_CONFIG, pid_file: PidFile = None,
           console_socket: ConsoleSocket = None, preserve_fds: PreserveFds = 0, no_pivot: NoPivot = False,
           no_new_keyring: NoNewKeyring = False, no_subreaper: NoSubreaper = False,
           runtime: Runtime = None) -> None:
    """Create a container; its process waits for `start`."""
    _dispatch(ctx, "create", container_id=container_id, bundle=bundle, config=config, pid_file=pid_file,
              console_socket=console_socket, preserve_fds=preserve_fds, no_pivot=no_pivot,
              no_new_keyring=no_new_keyring, no_subreaper=no_subreaper,
              runtime=runtime.value if runtime is not None else None)


@app.command()
def start(ctx: typer.Context, container_id: ContainerId) -> None:
    """Start the process of a created container."""
    _dispatch(ctx, "start", container_id=container_id)


@app.command()
def state(ctx: typer.Context, container_id: ContainerId) -> None:
    """Print the OCI state of a container as JSON."""
    _dispatch(ctx, "state", container_id=container_id)


@app.command()
def kill(ctx: typer.Context, container_id: ContainerId,
         signal: Annotated[str, typer.Argument(
             metavar="SIGNAL", help="Signal name (TERM, SIGKILL) or number.")] = commands.DEFAULT_SIGNAL,
         all_processes: Annotated[bool, typer.Option(
             "--all", "-a", help="Signal every process in the container, not only its init.")] = False,
         ) -> None:
    """Send a signal to a container's init process."""
    _dispatch(ctx, "kill", container_id=container_id, signal=signal, all_processes=all_processes)


@app.command()
def delete(ctx: typer.Context, container_id: ContainerId,
           force: Annotated[bool, typer.Option(
               "--force", "-f", help="Kill the container first if it is still running.")] = False,
           regex: Annotated[bool, typer.Option(
               "--regex", "-r", help="ID is a regular expression: delete every container it matches.")] = False,
           ) -> None:
    """Delete a container and its state."""
    _dispatch(ctx, "delete", container_id=container_id, force=force, regex=regex)


@app.command()
def run(ctx: typer.Context, container_id: ContainerId, bundle: Bundle = None,
        config: Config = commands.DEFAULT_CONFIG, pid_file: PidFile = None,
        console_socket: ConsoleSocket = None, preserve_fds: PreserveFds = 0, no_pivot: NoPivot = False,
        no_new_keyring: NoNewKeyring = False, no_subreaper: NoSubreaper = False,
        detach: Detach = False,
        keep: Annotated[bool, typer.Option(
            "--keep", help="Keep the container's state after it exits (no automatic delete).")] = False,
        runtime: Runtime = None,
        ) -> None:
    """Create and start a container; in the foreground, exit with its exit code."""
    _dispatch(ctx, "run", container_id=container_id, bundle=bundle, config=config, pid_file=pid_file,
              console_socket=console_socket, preserve_fds=preserve_fds, no_pivot=no_pivot,
              no_new_keyring=no_new_keyring, no_subreaper=no_subreaper, detach=detach, keep=keep,
              runtime=runtime.value if runtime is not None else None)


# Everything after the ID is the command, options-looking words included, as
# runc and crun read exec: click stops looking for options at the first argument.
@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_command(
    ctx: typer.Context,
    container_id: ContainerId,
    command: Annotated[Optional[list[str]], typer.Argument(
        metavar="COMMAND", help="The command and its arguments, unless --process gives them.",
        show_default=False)] = None,
    process: Annotated[Optional[str], typer.Option(
        "--process", "-p", metavar="FILE", help="An OCI process.json describing the process.")] = None,
    detach: Detach = False,
    tty: Annotated[bool, typer.Option("--tty", "-t", help="Give the process a pseudo-terminal.")] = False,
    console_socket: ConsoleSocket = None,
    pid_file: PidFile = None,
    cwd: Annotated[Optional[str], typer.Option(
        "--cwd", metavar="DIR", help="Working directory inside the container.")] = None,
    env: Annotated[Optional[list[str]], typer.Option(
        "--env", "-e", metavar="K=V", help="Set an environment variable (repeatable).")] = None,
    user: Annotated[Optional[str], typer.Option(
        "--user", "-u", metavar="UID[:GID]", help="Run as this user and group.")] = None,
    caps: Annotated[Optional[list[str]], typer.Option(
        "--cap", "-c", metavar="CAP", help="Add a capability, e.g. CAP_SYS_ADMIN (repeatable).")] = None,
    no_new_privs: Annotated[bool, typer.Option(
        "--no-new-privs", help="Set no_new_privileges for the process.")] = False,
    preserve_fds: PreserveFds = 0,
) -> None:
    """Run a process inside a running container; in the foreground, exit with its exit code."""
    _dispatch(ctx, "exec_process", container_id=container_id, command=list(command or []), process=process,
              detach=detach, tty=tty, console_socket=console_socket, pid_file=pid_file, cwd=cwd,
              env=list(env or []), user=user, caps=list(caps or []), no_new_privs=no_new_privs,
              preserve_fds=preserve_fds)


@app.command("list")
def list_command(
    ctx: typer.Context,
    output_format: Format = OutputFormat.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the ids.")] = False,
) -> None:
    """List the containers under the root."""
    _dispatch(ctx, "list_containers", output_format=output_format.value, quiet=quiet)


@app.command()
def ps(ctx: typer.Context, container_id: ContainerId, output_format: Format = OutputFormat.table) -> None:
    """List the pids of the processes in a container."""
    _dispatch(ctx, "ps", container_id=container_id, output_format=output_format.value)


@app.command()
def pause(ctx: typer.Context, container_id: ContainerId) -> None:
    """Freeze every process of a container."""
    _dispatch(ctx, "pause", container_id=container_id)


@app.command()
def resume(ctx: typer.Context, container_id: ContainerId) -> None:
    """Thaw a paused container."""
    _dispatch(ctx, "resume", container_id=container_id)


@app.command()
def update(
    ctx: typer.Context,
    container_id: ContainerId,
    resources: Annotated[Optional[str], typer.Option(
        "--resources", "-r", metavar="FILE",
        help="An OCI LinuxResources JSON file, or - for standard input; the options below apply over it.")] = None,
    memory: Annotated[ResourceValue, typer.Option(
        "--memory", metavar="BYTES", help="Memory limit (suffixes k, m, g; -1: unlimited).")] = None,
    memory_reservation: Annotated[ResourceValue, typer.Option(
        "--memory-reservation", metavar="BYTES", help="Memory soft limit.")] = None,
    memory_swap: Annotated[ResourceValue, typer.Option(
        "--memory-swap", metavar="BYTES", help="Memory plus swap limit (-1: unlimited).")] = None,
    cpu_shares: Annotated[ResourceValue, typer.Option(
        "--cpu-shares", metavar="N", help="CPU shares (relative weight).")] = None,
    cpu_quota: Annotated[ResourceValue, typer.Option(
        "--cpu-quota", metavar="N", help="CPU time in microseconds per --cpu-period (-1: unlimited).")] = None,
    cpu_period: Annotated[ResourceValue, typer.Option(
        "--cpu-period", metavar="N", help="CFS period in microseconds.")] = None,
    cpu_rt_runtime: Annotated[ResourceValue, typer.Option(
        "--cpu-rt-runtime", metavar="N", help="Realtime runtime in microseconds per period.")] = None,
    cpu_rt_period: Annotated[ResourceValue, typer.Option(
        "--cpu-rt-period", metavar="N", help="Realtime period in microseconds.")] = None,
    cpuset_cpus: Annotated[ResourceValue, typer.Option(
        "--cpuset-cpus", metavar="LIST", help="CPUs the container may use, e.g. 0-2,4.")] = None,
    cpuset_mems: Annotated[ResourceValue, typer.Option(
        "--cpuset-mems", metavar="LIST", help="Memory nodes the container may use.")] = None,
    pids_limit: Annotated[ResourceValue, typer.Option(
        "--pids-limit", metavar="N", help="Maximum number of processes (-1: unlimited).")] = None,
    blkio_weight: Annotated[ResourceValue, typer.Option(
        "--blkio-weight", metavar="N", help="Block IO weight (10-1000).")] = None,
) -> None:
    """Change the resource limits of a running container."""
    _dispatch(ctx, "update", container_id=container_id, resources=resources, memory=memory,
              memory_reservation=memory_reservation, memory_swap=memory_swap, cpu_shares=cpu_shares,
              cpu_quota=cpu_quota, cpu_period=cpu_period, cpu_rt_runtime=cpu_rt_runtime,
              cpu_rt_period=cpu_rt_period, cpuset_cpus=cpuset_cpus, cpuset_mems=cpuset_mems,
              pids_limit=pids_limit, blkio_weight=blkio_weight)


@app.command()
def spec(ctx: typer.Context, bundle: Bundle = None,
         rootless: Annotated[bool, typer.Option(
             "--rootless", help="A configuration for a container run without root.")] = False) -> None:
    """Write a default config.json into the bundle directory."""
    _dispatch(ctx, "spec", bundle=bundle, rootless=rootless)


@app.command()
def features(ctx: typer.Context) -> None:
    """Print the OCI features document (what this runtime supports) as JSON."""
    _dispatch(ctx, "features")


@app.command()
def info(ctx: typer.Context, output_format: Annotated[InfoFormat, typer.Option(
        "--format", "-f", help="Print text or a JSON document.")] = InfoFormat.text) -> None:
    """Show versions, backends (available or why not), cgroup mode, config file, routing rules, state root."""
    _dispatch(ctx, "info", output_format=output_format.value)


def _user_error_types() -> tuple[type[Exception], ...]:
    """The exceptions typer raises for a mistake on the command line, whichever click it uses."""
    found: list[type[Exception]] = []
    try:  # typer >= 0.2x vendors click; its usage errors derive from TyperException
        from typer.exceptions import TyperException
        found.append(TyperException)
    except ImportError:
        pass
    try:  # older typer runs on the click package
        from click.exceptions import ClickException  # type: ignore[import-not-found,unused-ignore]
        found.append(ClickException)
    except ImportError:
        pass
    return tuple(found)


def _one_line(error: Exception) -> str:
    """A usage error as one line: the message and where the help is."""
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    ctx = getattr(error, "ctx", None)
    message = " ".join(str(message).split())
    if ctx is not None:
        if not message.endswith((".", "!", "?")):
            message += "."
        message = f"{message} Try '{ctx.command_path} --help'."
    return message


def main(argv: list[str]) -> int:
    """Run the typer app on argv and return the exit code; usage errors are one line on stderr."""
    try:
        result = app(args=argv, prog_name="lxcri", standalone_mode=False)
    except _user_error_types() as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            # Bare `lxcri`: click carries the whole help text in the error.
            error.show()  # type: ignore[attr-defined]
        else:
            commands.report(_one_line(error), cli_fast.log_options(argv))
        # Usage errors exit 1 as crun's do (click's own code is 2), the same
        # code a mistake gets on the fast path.
        return 1
    except typer.Abort:
        commands.report("aborted", cli_fast.log_options(argv))
        return 1
    except KeyboardInterrupt:
        return commands.EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0
