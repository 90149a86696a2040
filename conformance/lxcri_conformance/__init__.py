"""The modules behind conformance/run.py (`make conformance`), one concern each.

common    HarnessError (exit status 2) and the progress log on stderr
procs     child subreaper, reaping, waiting for a test file, killing what it left
cleanup   what a test file leaves on the host (cgroups, mounts, state dirs) and its
          removal; the pid-counter nudge test_exec.py needs
suite     crun's test-suite: locating it in the crun tree, copying it, building its
          static init, the python-libmount stand-in, the tests each file declares
results   reading a file's output as TAP the way automake's tap-driver does; counts
runner    running one file against one runtime, and every file against every runtime
report    the table on stdout and the verdict (the JSON is the results dict itself)

run.py itself is the entry point: the command line, the run's order, the exit status.
"""
