"""DARTS candidate operations and the mixed op -- being written."""

__all__: list[str] = []
