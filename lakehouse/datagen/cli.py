"""Placeholder until the generator lands."""


def generate() -> None:
    """Generate the five source files (not implemented yet)."""
    raise SystemExit("not implemented yet")
