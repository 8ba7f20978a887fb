"""The ``pulpo`` command line (Typer). Heavy libraries load only inside commands."""
