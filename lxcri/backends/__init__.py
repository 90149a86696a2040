"""Backends: one module per way of running a container (see base.Backend).

Nothing is imported here: the CLI loads only the backend it uses.
"""
