"""Containers of a project: its image (build time) and the files that describe it.

Run time (the docker backend of the services) lives in :mod:`pulpo.services`; this
package renders templates and so belongs to build time.
"""
