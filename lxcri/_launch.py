# The script the native `lxcri` launcher starts the interpreter on; the rest is in
# lxcri._boot, whose byte code is cached, as a script's is not.
import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0])
from lxcri._boot import run  # noqa: E402

run()
