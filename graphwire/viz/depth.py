"""Depth-posterior plots -- being written."""

__all__: list[str] = []
