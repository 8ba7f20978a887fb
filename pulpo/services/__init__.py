"""Local services of a pulpo project: database, Prefect server and worker.

``ServiceManager`` starts them in dependency order over declarative definitions; the
backend that runs them (local processes here) is behind a small interface.
"""
