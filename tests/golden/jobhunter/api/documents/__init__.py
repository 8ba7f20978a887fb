"""CRUD routes, one module per Beanie document datamodel."""
