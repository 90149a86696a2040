"""lxcri's command line: the fast parser of engine argv (fast.py) and the typer app (app.py).

Importing this package imports nothing more: lxcri.__main__ reaches the fast
parser through it on every engine call, and typer is loaded only when `main`
runs the app.
"""

def main(argv: list[str]) -> int:
    """Run the typer app on argv and return the exit code (see lxcri.cli.app.main)."""
    from lxcri.cli import app

    return app.main(argv)
