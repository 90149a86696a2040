"""The crun backend: containers run by libcrun, embedded in this process.

    backend  CrunBackend, on the compiled binding lxcri._crun

Importing this package loads nothing: libcrun is loaded by the first import of
its backend module, and only the commands that run a crun container pay for it.
"""
