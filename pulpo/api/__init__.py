"""The HTTP API a project gets: CRUD for its Beanie documents and jobs over its flows.

Generated modules under ``run_cache/api/`` import the helpers here; the app itself is
built by :func:`pulpo.api.app.create_app`. FastAPI loads only inside the API process.
"""
