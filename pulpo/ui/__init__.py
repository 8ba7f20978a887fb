"""pulpo's web UI: static pages served with a small proxy to the project's API."""
