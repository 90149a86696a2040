# The script the native `lxcri` launcher starts the interpreter on; the rest is in
# lxcri._boot, whose byte code is cached, as a script's is not.
import sys

sys.path.append(__file__.rsplit("/", 2)[0])  # after the standard library, as site has it
from lxcri._boot import run  # noqa: E402

run()
