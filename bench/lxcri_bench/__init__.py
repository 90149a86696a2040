"""The modules behind bench/bench.py (`make bench`), one concern each.

common    the container-id prefix, the reap deadline, BenchError
procs     spawning, timing and reaping commands (posix_spawn, subreaper)
peers     the OCI CLI peers (lxcri, crun, runc): Runtime, the bundle, timed iterations
inproc    the in-process peer, parent side: drives the worker over a pipe
worker    the in-process peer, worker side: the only module that imports lxcri
cgroupwait  the warm and cold conditions of the conditioned rows
podman    the private podman of the `podman run --rm` row, its setup and cleanup
rows      Variant, Row, Target: the rows table and the targets
measure   interleaved rounds, medians, bootstrap intervals, verdicts, peak RSS
report    the printed table and the JSON document
session   Bench: one benchmark run, from setup to cleanup
vm        the vm backend's report-only row: boots, first instruction, QEMU's RSS

bench.py itself is the entry point: the command line and the run's order.
"""
