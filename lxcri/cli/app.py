"""lxcri's full command line as a typer app generated from lxcri.cli.grammar: help, error messages, the rest.

lxcri.__main__ tries lxcri.cli.fast first and imports this module only for what
that parser leaves alone (--help, mistakes, anything outside its grammar), so
typer's import cost is paid only there. Each command here is made from its
entry in the grammar, the same tables the fast parser reads: a callback whose
signature typer reads like any other, with one parameter per operand and
option. Both paths end in the same lxcri.commands functions, looked up on the
module at call time so that a test can stand a recording fake in for them.
"""
from __future__ import annotations

import enum
import inspect
from typing import Annotated, Any, NoReturn, Optional, cast

import typer

from lxcri import commands
from lxcri.cli import fast, grammar
from lxcri.cli.grammar import COUNT, FLAG, REPEATED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

app = typer.Typer(
    name=grammar.GLOBALS.name,
    help=grammar.GLOBALS.help,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Callbacks take every parameter by keyword: typer passes them so, and then a
# parameter with a default may come before one without.
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def _choices(option: grammar.Option) -> type[enum.Enum]:
    """The Enum typer turns into the option's choice list (its values are the choices)."""
    # The functional API makes a class, which mypy does not see: it reads the call as making a member.
    return cast("type[enum.Enum]", enum.Enum(option.keyword, [(choice, choice) for choice in option.choices],
                                             type=str))


def _option_parameter(option: grammar.Option) -> inspect.Parameter:
    """The callback parameter typer makes the option from: its type, spellings, default and help."""
    default: object = option.default
    extra: dict[str, Any] = {}
    if option.kind == FLAG:
        annotation: object = bool
    elif option.kind == COUNT:
        annotation = int
        extra["min"] = 0
    elif option.kind == REPEATED:
        annotation, default = Optional[list[str]], None
    elif option.choices:
        choices = _choices(option)
        annotation = choices if default is not None else Optional[choices]
        default = None if default is None else choices(default)
    else:
        annotation = str if default is not None else Optional[str]
    info = typer.Option(*option.spellings, metavar=option.metavar, help=option.help, **extra)
    return inspect.Parameter(option.keyword, _KEYWORD, default=default, annotation=Annotated[annotation, info])


def _operand_parameter(operand: grammar.Operand, *, rest: bool = False) -> inspect.Parameter:
    """The callback parameter typer makes a positional argument from."""
    info = typer.Argument(metavar=operand.metavar, help=operand.help, show_default=operand.default is not None)
    if rest:
        annotation: object = Optional[list[str]]
        default: object = None
    else:
        annotation = str
        default = inspect.Parameter.empty if operand.required else operand.default
    return inspect.Parameter(operand.keyword, _KEYWORD, default=default, annotation=Annotated[annotation, info])


def _callback(command: grammar.Command, act: Callable[[typer.Context, dict[str, object]], None],
              ) -> Callable[..., None]:
    """A function with one parameter per operand and option of command, calling act with their plain values.

    Plain as the fast parser gives them: a choice as its text, a repeated
    option or exec's command as a list.
    """
    lists = {option.keyword for option in command.repeated}
    if command.rest is not None:
        lists.add(command.rest.keyword)

    def plain(keyword: str, value: object) -> object:
        if keyword in lists:
            assert value is None or isinstance(value, (list, tuple))
            return list(value or ())
        return value.value if isinstance(value, enum.Enum) else value

    def callback(ctx: typer.Context, **values: object) -> None:
        act(ctx, {keyword: plain(keyword, value) for keyword, value in values.items()})

    parameters = [inspect.Parameter("ctx", _KEYWORD, annotation=typer.Context)]
    parameters += [_operand_parameter(operand) for operand in command.operands]
    if command.rest is not None:
        parameters.append(_operand_parameter(command.rest, rest=True))
    parameters += [_option_parameter(option) for option in command.options]
    callback.__name__ = callback.__qualname__ = command.name
    callback.__doc__ = command.help
    # What typer reads: the signature, and the annotations (typing.get_type_hints).
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return callback


def _global_options(ctx: typer.Context, values: dict[str, object]) -> None:
    """What the global options do: become ctx.obj for the command, or print the version."""
    ctx.obj = fast.global_options(values)
    if values[grammar.VERSION.keyword]:
        # Not an eager option: this way --debug counts wherever it stands.
        raise typer.Exit(commands.invoke(getattr(commands, grammar.GLOBALS.function), ctx.obj))
    if ctx.invoked_subcommand is None:
        ctx.fail("Missing command.")


def _dispatcher(command: grammar.Command) -> Callable[[typer.Context, dict[str, object]], NoReturn]:
    """What running command does: call its function in lxcri.commands with the global options and its values."""
    def dispatch(ctx: typer.Context, values: dict[str, object]) -> NoReturn:
        options = ctx.obj
        assert isinstance(options, commands.GlobalOptions), "the app callback sets ctx.obj"
        raise typer.Exit(commands.invoke(getattr(commands, command.function), options, **values))

    return dispatch


def _generate(app: typer.Typer) -> None:
    """Give app the global options and every command of the grammar, in its order."""
    app.callback(invoke_without_command=True, help=grammar.GLOBALS.help)(
        _callback(grammar.GLOBALS, _global_options))
    for command in grammar.COMMANDS.values():
        # Everything after exec's ID is the command, options-looking words included,
        # as runc and crun read exec: click stops looking for options at the first argument.
        settings = {"allow_interspersed_args": False} if command.rest is not None else None
        app.command(command.name, help=command.help, context_settings=settings)(
            _callback(command, _dispatcher(command)))


_generate(app)


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
            commands.report(_one_line(error), fast.log_options(argv))
        # Usage errors exit 1 as crun's do (click's own code is 2), the same
        # code a mistake gets on the fast path.
        return 1
    except typer.Abort:
        commands.report("aborted", fast.log_options(argv))
        return 1
    except KeyboardInterrupt:
        return commands.EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0
