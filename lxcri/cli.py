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

from lxcri import commands


class ListFormat(str, Enum):
    """How `list` prints the containers."""

    table = "table"
    json = "json"


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
    version: Annotated[bool, typer.Option(
        "--version", "-v", "-V", help="Print the versions of lxcri, libcrun and the OCI spec.")] = False,
) -> None:
    """OCI container runtime for Proxmox VE hosts, embedding libcrun."""
    ctx.obj = commands.GlobalOptions(root=root, debug=debug)
    if version:
        # Not an eager option: this way --debug counts wherever it stands.
        raise typer.Exit(commands.invoke(commands.version, ctx.obj))
    if ctx.invoked_subcommand is None:
        ctx.fail("Missing command.")


@app.command()
def create(ctx: typer.Context, container_id: ContainerId, bundle: Bundle = None,
           config: Config = commands.DEFAULT_CONFIG, pid_file: PidFile = None) -> None:
    """Create a container; its process waits for `start`."""
    _dispatch(ctx, "create", container_id=container_id, bundle=bundle, config=config,
              pid_file=pid_file)


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
         ) -> None:
    """Send a signal to a container's init process."""
    _dispatch(ctx, "kill", container_id=container_id, signal=signal)


@app.command()
def delete(ctx: typer.Context, container_id: ContainerId,
           force: Annotated[bool, typer.Option(
               "--force", "-f", help="Kill the container first if it is still running.")] = False,
           ) -> None:
    """Delete a container and its state."""
    _dispatch(ctx, "delete", container_id=container_id, force=force)


@app.command()
def run(ctx: typer.Context, container_id: ContainerId, bundle: Bundle = None,
        config: Config = commands.DEFAULT_CONFIG, pid_file: PidFile = None,
        detach: Annotated[bool, typer.Option(
            "--detach", "-d", help="Return once the container is started, not when it exits.")] = False,
        ) -> None:
    """Create and start a container; in the foreground, exit with its exit code."""
    _dispatch(ctx, "run", container_id=container_id, bundle=bundle, config=config,
              pid_file=pid_file, detach=detach)


@app.command("list")
def list_command(
    ctx: typer.Context,
    output_format: Annotated[ListFormat, typer.Option(
        "--format", "-f", help="Print a table or a JSON array.")] = ListFormat.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the ids.")] = False,
) -> None:
    """List the containers under the root."""
    _dispatch(ctx, "list_containers", output_format=output_format.value, quiet=quiet)


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
            commands.report(_one_line(error))
        return int(getattr(error, "exit_code", 2))
    except typer.Abort:
        commands.report("aborted")
        return 1
    except KeyboardInterrupt:
        return commands.EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0
