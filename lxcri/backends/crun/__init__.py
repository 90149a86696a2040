"""The crun backend: containers run by libcrun, embedded in this process.

    binding  loads lxcri._crun (libcrun) and turns libcrun's errors into lxcri's
    backend  CrunBackend: the OCI operations, one libcrun call each

Importing this package loads nothing: libcrun is loaded by the first import of
its backend module, and only the commands that run a crun container pay for it.
"""
