"""Pure analysis of a project's definitions: names, data flow and dependency graph.

Nothing in this package does I/O, runs user code or prints; it takes specs in and gives
immutable, sorted views out.
"""
