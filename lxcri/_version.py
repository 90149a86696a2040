"""lxcri's version, shared by the package, the build script and the compiled module."""

__version__ = "0.1.0"
