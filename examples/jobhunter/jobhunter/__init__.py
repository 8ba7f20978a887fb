"""jobhunter: a pulpo example project."""
