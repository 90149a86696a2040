"""What the native `lxcri` launcher runs: `python -I -S .../lxcri/_launch.py LAUNCHER ARGS...`.

Isolated and without site processing, sys.path holds only the standard library:
the site-packages holding this package (with its dependencies, a venv's) goes in
front, and argv[0] becomes the launcher's path, as a console script would have it.
"""
import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0])
del sys.argv[0]

from lxcri.__main__ import main  # noqa: E402

sys.exit(main())
