"""lxcri's entry point: seal the process when a command enters a container, parse argv fast, fall back to the typer app.

Order matters and is the reason this module exists:
1. Commands that start a process inside a container (create, run, exec)
   seal the process first (lxcri.sealed): /proc/self/exe is replaced in place
   by a sealed copy, or, where that cannot be done, lxcri re-executes from a
   sealed copy of the interpreter, before anything heavy is imported, since
   everything imported before the re-exec is imported twice.
2. `state`, `kill` and `list` of plain crun containers are answered the quick way
   (lxcri.cli.quick), without libcrun or the Runtime; whatever that way is not sure
   of goes on.
3. lxcri.cli.fast parses the argv engines send, with no third-party import.
4. Whatever it does not fully understand goes to the typer app (lxcri.cli.app),
   which owns help and error messages.
"""
import sys

# Stands in for typing.TYPE_CHECKING without importing typing (see lxcri.commands).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from lxcri.cli.fast import Invocation
    from lxcri.commands import GlobalOptions


def needs_seal(argv: "Sequence[str]") -> bool:
    """Whether argv names a command that enters a container.

    When an option the fast parser does not know hides where the command word
    is, any word naming such a command counts: sealing one time too many costs
    a re-exec, one time too few leaves the host's interpreter exposed.
    """
    from lxcri.cli import fast, grammar

    # Their process ends up inside a container, so their executable is one a
    # hostile container could reach through /proc/<pid>/exe.
    sealed = grammar.ENTERING_COMMANDS
    word = fast.command_word(argv)
    if word is None:
        return any(arg in sealed for arg in argv)
    return word in sealed


def seal(debug: bool = False) -> None:
    """Seal the process: in place, else by a re-exec from a sealed copy (may not return)."""
    from lxcri import sealed

    sealed.seal(debug)


def _one_shot() -> bool:
    """Whether crun's create, run and exec go through a one-shot zygote: then this
    process never becomes a container's process and needs no seal up front (the lxc
    backend, which starts containers from this process, seals it in place itself)."""
    from lxcri.backends.crun import zygote

    return zygote.one_shot_usable()


def _early_zygote(invocation: "Invocation") -> None:
    """Start the one-shot zygote of a create, run or exec now (lxcri.backends.crun.zygote.
    start_early), unless the command names another backend; main ends it if no
    operation took it."""
    if invocation.function in ("create", "run", "exec_process") and \
            invocation.arguments.get("runtime") in (None, "crun"):
        from lxcri.backends.crun import zygote

        zygote.start_early()


def _seal_command(options: "GlobalOptions") -> int:
    seal(options.debug)
    return 0


def run_invocation(invocation: "Invocation") -> int:
    """Call the lxcri.commands function the fast parser chose, through the one error mapping."""
    from lxcri import commands

    function = getattr(commands, invocation.function)
    return commands.invoke(function, invocation.options, **invocation.arguments)


def without_slim_flags(orig_argv: "Sequence[str]") -> list[str]:
    """The interpreter's argv without the flags the launcher adds where lxcri's slim byte
    code is installed (-OO -X no_debug_ranges; see launcher/lxcri.c). A script that is
    lxcri._boot's slim byte code (the launcher's boot_byte_code) becomes _launch.py."""
    out = list(orig_argv[:1])
    i = 1
    while i < len(orig_argv):
        arg = orig_argv[i]
        if arg == "-OO":
            i += 1
        elif arg == "-X" and orig_argv[i + 1:i + 2] == ["no_debug_ranges"]:
            i += 2
        elif arg in ("-m", "-c") or arg == "-" or not arg.startswith("-"):
            cache, _, name = arg.rpartition("/")
            if cache.endswith("/__pycache__") and name.startswith("_boot.") and \
                    name.endswith(".opt-2.pyc"):
                arg = cache.removesuffix("__pycache__") + "_launch.py"
            out.append(arg)
            out.extend(orig_argv[i + 1:])  # the script, module or code: the rest is its argv
            break
        else:
            takes_value = arg in ("-X", "-W", "--check-hash-based-pycs")
            out.extend(orig_argv[i:i + 1 + takes_value])
            i += 1 + takes_value
    return out


def _docstrings_back() -> None:
    """Run this command again with docstrings when -OO left them out: the typer app
    makes its help of them. Returns only when there is nothing to undo."""
    if sys.flags.optimize < 2:
        return
    argv = without_slim_flags(sys.orig_argv)
    if argv == sys.orig_argv or not sys.executable:
        return  # -OO from elsewhere (PYTHONOPTIMIZE): help without docstrings it is
    import os

    if "lxcri.host.warmup" in sys.modules:  # the warm-up child belongs to this image
        from lxcri.host import warmup

        warmup.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, argv)
    except OSError:
        pass  # go on with what there is


def run_typer(argv: list[str]) -> int:
    """Hand argv to the typer app."""
    try:
        from lxcri.cli import app
    except ImportError as error:
        from lxcri import commands
        from lxcri.cli import fast

        commands.report(f"cannot parse this command line without typer ({error}); "
                        "lxcri understands only its basic commands without it", fast.log_options(argv))
        return 1
    return app.main(argv)


_ENTERING_WORDS = frozenset(("create", "run", "exec"))


def main(argv: "Sequence[str] | None" = None) -> int:
    """Run one lxcri command line and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # state, kill, start, delete and list of a plain crun container: without libcrun
        # or the Runtime. (A word that is the start of a container goes on at once: an id
        # spelled so only misses the quick way, which answers the same.)
        if not _ENTERING_WORDS.intersection(args):
            from lxcri.cli import quick

            code = quick.run(args)
            if code is not None:
                return code

        from lxcri import commands
        from lxcri.cli import fast

        # Parsing imports nothing more, so it may come before the seal.
        invocation = fast.parse(args)
        if needs_seal(args) and not _one_shot():
            # A failure to seal stops the command: it must not go on unprotected.
            options = invocation.options if invocation is not None else fast.log_options(args)
            code = commands.invoke(_seal_command, options)
            if code != 0:
                return code
        elif argv is None and invocation is not None:
            _early_zygote(invocation)

        if invocation is not None:
            return run_invocation(invocation)
        if argv is None:
            _docstrings_back()
        return run_typer(args)
    except KeyboardInterrupt:
        return 130
    finally:
        zygote = sys.modules.get("lxcri.backends.crun.zygote")
        if zygote is not None:
            zygote.end_early()  # the early zygote, when no operation took it


if __name__ == "__main__":
    sys.exit(main())
